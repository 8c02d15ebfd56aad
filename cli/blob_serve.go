package cli

import "github.com/picloud/picloud/server"

// blobServeFlags defines serve's blob flags into o.
func blobServeFlags(ef *envFlags, o *server.BlobOptions) {
	ef.Size(&o.MaxSize, "blob-max-size", "PICLOUD_BLOB_MAX_SIZE", server.DefaultBlobMaxSize, "largest blob one upload may store (413 beyond)")
	ef.Size(&o.BucketQuota, "blob-bucket-quota", "PICLOUD_BLOB_BUCKET_QUOTA", 0, "most bytes one bucket may hold (507 beyond; 0: no quota)")
	ef.Duration(&o.SweepInterval, "blob-sweep-interval", "PICLOUD_BLOB_SWEEP_INTERVAL", server.DefaultBlobSweepInterval, "how often orphaned blob chunks (interrupted uploads, replaced blobs) are deleted")
	ef.Duration(&o.SweepGrace, "blob-sweep-grace", "PICLOUD_BLOB_SWEEP_GRACE", server.DefaultBlobSweepGrace, "how long an idle upload or a replaced blob's chunks are kept before the sweeper deletes them")
}
