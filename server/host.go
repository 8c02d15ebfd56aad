package server

import (
	"github.com/picloud/picloud/outbound"
	"github.com/picloud/picloud/protocol"
	"github.com/picloud/picloud/store"
)

// nodeHost is the node's protocol.Host, what workers reach through their
// host calls: kv and secrets in PostgreSQL (store.Host), outbound HTTP
// made by package outbound under the calling version's grants.
type nodeHost struct {
	*store.Host
	*outbound.Client
}

var _ protocol.Host = nodeHost{}
