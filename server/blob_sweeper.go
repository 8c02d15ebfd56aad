package server

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/picloud/picloud/store"
)

// Blob defaults (picloud serve --blob-*).
const (
	DefaultBlobMaxSize       = 256 << 20
	DefaultBlobSweepInterval = 5 * time.Minute
	DefaultBlobSweepGrace    = time.Hour
)

// BlobOptions are the server's blob settings; zero fields take the
// defaults above (BucketQuota 0 means no quota).
type BlobOptions struct {
	// MaxSize bounds one blob (413 beyond).
	MaxSize int64
	// BucketQuota bounds the bytes of one bucket (507 beyond); 0: none.
	BucketQuota int64
	// SweepInterval is how often the node deletes orphaned chunks.
	SweepInterval time.Duration
	// SweepGrace is how long an unreferenced chunk set is kept: an
	// upload idle this long is abandoned, and a download of a replaced or
	// deleted blob has this long to finish.
	SweepGrace time.Duration
}

func (o BlobOptions) withDefaults() BlobOptions {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultBlobMaxSize
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = DefaultBlobSweepInterval
	}
	if o.SweepGrace <= 0 {
		o.SweepGrace = DefaultBlobSweepGrace
	}
	return o
}

// blobSweeper deletes orphaned blob chunks every interval: those of
// interrupted uploads (the client went away, the server was killed) and of
// replaced or deleted blobs, once older than the grace period. Every node
// runs one; they skip each other's rows (SKIP LOCKED).
type blobSweeper struct {
	st   *store.Store
	opts BlobOptions
	log  hclog.Logger
	done chan struct{}
}

func newBlobSweeper(st *store.Store, opts BlobOptions, log hclog.Logger) *blobSweeper {
	return &blobSweeper{st: st, opts: opts, log: log.Named("blob-sweeper"), done: make(chan struct{})}
}

// run sweeps until ctx ends, then closes done.
func (b *blobSweeper) run(ctx context.Context) {
	defer close(b.done)
	t := time.NewTicker(b.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.sweep(ctx)
		}
	}
}

// sweep deletes every expired chunk set, 100 at a time.
func (b *blobSweeper) sweep(ctx context.Context) {
	var sets, chunks int64
	for {
		s, c, err := b.st.SweepBlobs(ctx, b.opts.SweepGrace)
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("sweep failed", "error", err)
			}
			return
		}
		sets, chunks = sets+s, chunks+c
		if s < 100 {
			break
		}
	}
	if sets > 0 {
		b.log.Info("swept orphaned blob chunks", "chunk_sets", sets, "chunks", chunks)
	}
}
