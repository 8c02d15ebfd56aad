package wire

import (
	"context"
	"time"
)

func (fuzzHost) BlobGet(context.Context, string, string, string) ([]byte, BlobMeta, bool, error) {
	return []byte("x"), BlobMeta{Key: "k", Size: 1}, true, nil
}
func (fuzzHost) BlobHead(context.Context, string, string, string) (BlobMeta, bool, error) {
	return BlobMeta{Key: "k", Size: 1}, true, nil
}
func (fuzzHost) BlobPut(context.Context, string, string, string, []byte, string) (BlobMeta, error) {
	return BlobMeta{Key: "k"}, nil
}
func (fuzzHost) BlobList(context.Context, string, string, string, string) ([]BlobMeta, string, error) {
	return []BlobMeta{{Key: "k"}}, "", nil
}
func (fuzzHost) BlobDelete(context.Context, string, string, string) (bool, error) { return true, nil }
func (fuzzHost) BlobURL(context.Context, string, string, string, time.Duration) (string, error) {
	return "/u", nil
}
