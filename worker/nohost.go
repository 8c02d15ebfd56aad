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

func (noHost) BlobGet(context.Context, string, string, string) ([]byte, wire.BlobMeta, bool, error) {
	return nil, wire.BlobMeta{}, false, &noHostError{}
}
func (noHost) BlobHead(context.Context, string, string, string) (wire.BlobMeta, bool, error) {
	return wire.BlobMeta{}, false, &noHostError{}
}
func (noHost) BlobPut(context.Context, string, string, string, []byte, string) (wire.BlobMeta, error) {
	return wire.BlobMeta{}, &noHostError{}
}
func (noHost) BlobList(context.Context, string, string, string, string) ([]wire.BlobMeta, string, error) {
	return nil, "", &noHostError{}
}
func (noHost) BlobDelete(context.Context, string, string, string) (bool, error) {
	return false, &noHostError{}
}
func (noHost) BlobURL(context.Context, string, string, string, time.Duration) (string, error) {
	return "", &noHostError{}
}
