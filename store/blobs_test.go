package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/picloud/picloud/store"
)

// sweepingReader yields one chunk, runs sweep (the sweeper catching the
// upload idle past its grace), then yields more.
type sweepingReader struct {
	calls int
	sweep func()
}

func (r *sweepingReader) Read(p []byte) (int, error) {
	r.calls++
	switch {
	case r.calls == 1:
		return len(p), nil // a full chunk
	case r.calls == 2:
		r.sweep()
		return 10, nil
	}
	return 0, io.EOF
}

func TestBlobs_UploadIdlePastTheGraceFailsAndLeavesNothing(t *testing.T) {
	s := stNew(t)
	ctx := stCtx(t)
	var swept int64
	r := &sweepingReader{sweep: func() {
		sets, _, err := s.SweepBlobs(ctx, 0)
		require.NoError(t, err)
		swept += sets
	}}
	_, err := s.PutBlob(ctx, store.PutBlobParams{Bucket: "b", Key: "k", Body: r})
	require.ErrorContains(t, err, "idle past the sweeper's grace period")
	require.EqualValues(t, 1, swept)
	_, err = s.HeadBlob(ctx, "b", "k")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestBlobs_ReplacedChunksWaitForTheGrace(t *testing.T) {
	s := stNew(t)
	ctx := stCtx(t)
	put := func(data []byte) *store.Blob {
		b, err := s.PutBlob(ctx, store.PutBlobParams{Bucket: "b", Key: "k", Body: bytes.NewReader(data)})
		require.NoError(t, err)
		return b
	}
	old := put(bytes.Repeat([]byte("a"), store.BlobChunkSize+5))
	put([]byte("new"))
	// A download of the replaced blob that started before the replace
	// still reads it until the grace period is over.
	sets, _, err := s.SweepBlobs(ctx, time.Hour)
	require.NoError(t, err)
	require.Zero(t, sets)
	var buf bytes.Buffer
	require.NoError(t, s.ReadBlob(ctx, old, &buf, store.BlobChunkSize-2, 4, nil))
	require.Equal(t, "aaaa", buf.String())
	sets, chunks, err := s.SweepBlobs(ctx, 0)
	require.NoError(t, err)
	require.EqualValues(t, 1, sets)
	require.EqualValues(t, 2, chunks)
	err = s.ReadBlob(ctx, old, io.Discard, 0, -1, nil)
	require.True(t, errors.Is(err, store.ErrNotFound), "%v", err)
	cur, err := s.HeadBlob(ctx, "b", "k")
	require.NoError(t, err)
	buf.Reset()
	require.NoError(t, s.ReadBlob(ctx, cur, &buf, 0, -1, nil))
	require.Equal(t, "new", buf.String())
}

func TestBlobs_QuotaCountsTheReplacedBlobOnce(t *testing.T) {
	s := stNew(t)
	ctx := context.Background()
	put := func(key string, n int) error {
		_, err := s.PutBlob(ctx, store.PutBlobParams{Bucket: "q", Key: key, Body: bytes.NewReader(make([]byte, n)), Quota: 100})
		return err
	}
	require.NoError(t, put("a", 60))
	require.NoError(t, put("a", 90)) // replaces: 90 of 100
	var qe *store.BlobQuotaError
	require.ErrorAs(t, put("b", 20), &qe)
	require.EqualValues(t, 90, qe.Used)
	require.NoError(t, put("b", 10))
}
