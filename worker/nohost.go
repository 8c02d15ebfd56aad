package worker

import (
	"context"
	"time"

	"github.com/picloud/picloud/protocol/wire"
)

// noHostError is returned by noHost.
type noHostError struct{}

func (*noHostError) Error() string { return "not available outside handle(req)" }

// noHost refuses every host call; top-level code runs with it.
type noHost struct{}

var _ wire.Host = noHost{}

func (noHost) KVGet(context.Context, string, string) ([]byte, bool, error) {
	return nil, false, &noHostError{}
}
func (noHost) KVSet(context.Context, string, string, []byte, time.Duration) error {
	return &noHostError{}
}
func (noHost) KVDelete(context.Context, string, string) error { return &noHostError{} }
func (noHost) KVIncr(context.Context, string, string, int64) (int64, error) {
	return 0, &noHostError{}
}
func (noHost) KVList(context.Context, string, string, int) ([]wire.KVEntry, error) {
	return nil, &noHostError{}
}
func (noHost) SecretGet(context.Context, string, string) (string, bool, error) {
	return "", false, &noHostError{}
}
func (noHost) HTTPRequest(context.Context, string, *wire.HTTPRequest) (*wire.HTTPResponse, error) {
	return nil, &noHostError{}
}
