package protocol

import (
	"context"
	"errors"
	"fmt"
	"net/rpc"
	"os/exec"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/picloud/picloud/protocol/wire"
)

// Handshake is the go-plugin handshake between the supervisor and a worker
// (values and version history in package wire). The magic cookie only
// tells a worker it was started by a supervisor (it is not a secret); a
// worker started by hand explains itself and exits.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  wire.ProtocolVersion,
	MagicCookieKey:   wire.MagicCookieKey,
	MagicCookieValue: wire.MagicCookieValue,
}

// PluginSet returns the plugin map both sides register. On the client side
// the implementation is nil (only Client is used).
func PluginSet() plugin.PluginSet {
	return plugin.PluginSet{wire.PluginName: &controlPlugin{}}
}

// ClientConfig returns the go-plugin client configuration for a worker
// command. The worker does not inherit the supervisor's environment
// (SkipHostEnv): it gets cmd.Env as set by the caller plus go-plugin's own
// variables. The caller sets cmd.Env, cmd.SysProcAttr and the cgroup.
//
// Variables the worker reads: PICLOUD_WORKER_COOKIE and PLUGIN_* (go-plugin),
// TMPDIR (where its private socket directory is made, default /tmp).
func ClientConfig(cmd *exec.Cmd, logger hclog.Logger) *plugin.ClientConfig {
	return &plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          PluginSet(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolNetRPC},
		Logger:           logger,
		SkipHostEnv:      true,
		AutoMTLS:         false,
		StartTimeout:     30 * time.Second,
	}
}

// controlPlugin is the net/rpc plugin carrying the control calls; this is
// the client side only (the worker serves it with wire.Serve).
type controlPlugin struct{}

var _ plugin.Plugin = (*controlPlugin)(nil)

func (p *controlPlugin) Server(*plugin.MuxBroker) (interface{}, error) {
	return nil, errors.New("the worker side is served by wire.Serve")
}

func (p *controlPlugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return &controlClient{c: c}, nil
}

// controlClient calls the control server; every call honours ctx.
type controlClient struct{ c *rpc.Client }

func (c *controlClient) call(ctx context.Context, method string, args, reply any) error {
	done := c.c.Go("Plugin."+method, args, reply, make(chan *rpc.Call, 1)).Done
	select {
	case call := <-done:
		if call.Error != nil {
			return fmt.Errorf("worker %s: %w", method, call.Error)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("worker %s: %w", method, ctx.Err())
	}
}
