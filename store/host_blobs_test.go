package store_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/protocol/wire"
	"github.com/picloud/picloud/store"
)

// TestHost_BlobGrantsAreTheCurrentVersions checks the grants on the host
// side: the own bucket always, others as the current version lists them,
// read-only ones refusing writes, and a redeploy keeping or dropping them.
func TestHost_BlobGrantsAreTheCurrentVersions(t *testing.T) {
	s := stNew(t)
	ctx := stCtx(t)
	h := s.Host(store.WithBlobLimits(store.BlobLimits{MaxSize: 16 << 20}))
	_, err := s.CreateFunction(ctx, store.DeployParams{Name: "fn", Source: "v1", Blobs: []string{"photos:r", "shared:rw"}})
	require.NoError(t, err)

	_, err = h.BlobPut(ctx, "fn", "fn", "own", []byte("x"), "")
	require.NoError(t, err)
	_, err = h.BlobPut(ctx, "fn", "shared", "k", []byte("x"), "")
	require.NoError(t, err)
	_, _, found, err := h.BlobGet(ctx, "fn", "photos", "k")
	require.NoError(t, err)
	require.False(t, found)

	var ng *store.BlobNotGrantedError
	_, err = h.BlobPut(ctx, "fn", "photos", "k", []byte("x"), "")
	require.ErrorAs(t, err, &ng)
	require.Contains(t, err.Error(), "--blobs photos:rw")
	_, err = h.BlobDelete(ctx, "fn", "photos", "k")
	require.ErrorAs(t, err, &ng)
	_, _, err = h.BlobList(ctx, "fn", "other", "", "")
	require.ErrorAs(t, err, &ng)
	require.Contains(t, err.Error(), "--blobs other:r")
	_, err = h.BlobURL(ctx, "other-fn", "fn", "own", time.Minute)
	require.ErrorAs(t, err, &ng, "a function that does not exist reaches no bucket but its own")

	// A redeploy without Blobs but KeepBlobs keeps them; with [] drops them.
	_, err = s.DeployVersion(ctx, store.DeployParams{Name: "fn", Source: "v2", KeepBlobs: true})
	require.NoError(t, err)
	_, _, _, err = h.BlobGet(ctx, "fn", "photos", "k")
	require.NoError(t, err)
	_, err = s.DeployVersion(ctx, store.DeployParams{Name: "fn", Source: "v3", Blobs: []string{}})
	require.NoError(t, err)
	_, _, _, err = h.BlobGet(ctx, "fn", "photos", "k")
	require.ErrorAs(t, err, &ng)
}

func TestHost_BlobsOverTheLuaBoundPointToHTTP(t *testing.T) {
	s := stNew(t)
	ctx := stCtx(t)
	h := s.Host()
	_, err := s.PutBlob(ctx, store.PutBlobParams{Bucket: "fn", Key: "big", Body: bytes.NewReader(make([]byte, wire.MaxLuaBlobBytes+1))})
	require.NoError(t, err)
	_, _, _, err = h.BlobGet(ctx, "fn", "fn", "big")
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "use the HTTP API (/api/v1/blobs/fn/big)"), err.Error())
	m, found, err := h.BlobHead(ctx, "fn", "fn", "big")
	require.NoError(t, err)
	require.True(t, found)
	require.EqualValues(t, wire.MaxLuaBlobBytes+1, m.Size)
}
