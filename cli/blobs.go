package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/picloud/picloud/api"
	"github.com/picloud/picloud/store"
)

func blobCommand() *command {
	return &command{
		Name:    "blob",
		Args:    "put|get|cat|ls|rm|url ...",
		Summary: "store and fetch blobs (files) in buckets",
		Description: `Blobs are byte strings (files) kept in PostgreSQL, in buckets. A function
uses its own bucket (named after it) and the buckets granted at deploy
('picloud deploy --blobs photos:rw') with the Lua blobs module; these commands
use the HTTP API: uploading and deleting need a token with the blobs (or
admin) scope, reading needs read. Transfers stream: a blob is never held
whole in memory. A progress bar is drawn on stderr when it is a terminal (or
with --progress) for transfers over 1 MiB.`,
		Example: `picloud blob put photos/cat.jpg ./cat.jpg
picloud blob get photos/cat.jpg cat-copy.jpg
picloud blob ls photos/2024/
picloud blob url photos/cat.jpg --expires 1h`,
		Subs: []*command{blobPutCommand(), blobGetCommand(), blobCatCommand(), blobLsCommand(), blobRmCommand(), blobURLCommand()},
	}
}

// splitBlobPath splits BUCKET/KEY.
func splitBlobPath(c *command, s string, needKey bool) (bucket, key string, err error) {
	bucket, key, _ = strings.Cut(s, "/")
	if bucket == "" || (needKey && key == "") {
		return "", "", usagef(c, "%q is not BUCKET/KEY (like photos/cat.jpg)", s)
	}
	return bucket, key, nil
}

// splitList flattens comma-separated, repeated flag values; never nil.
func splitList(vals []string) *[]string {
	out := []string{}
	for _, v := range vals {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				out = append(out, n)
			}
		}
	}
	return &out
}

// sizedReader is a body whose length is known (sent as Content-Length).
type sizedReader interface{ Size() int64 }

// progressReader counts what passes through and draws a bar on w.
type progressReader struct {
	r     io.Reader
	w     io.Writer
	size  int64 // -1: unknown
	done  int64
	start time.Time
	last  time.Time
	label string
}

func newProgress(r io.Reader, w io.Writer, size int64, label string) *progressReader {
	now := time.Now()
	return &progressReader{r: r, w: w, size: size, start: now, last: now, label: label}
}

// Size is the total, for Content-Length.
func (p *progressReader) Size() int64 { return p.size }

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond || err == io.EOF { //nolint:errorlint // io.Reader contract
		p.last = now
		p.draw(now)
	}
	return n, err
}

func (p *progressReader) draw(now time.Time) {
	rate := float64(p.done) / max(now.Sub(p.start).Seconds(), 0.001)
	if p.size > 0 {
		const width = 30
		fill := int(float64(width) * float64(p.done) / float64(p.size))
		fill = min(fill, width)
		fmt.Fprintf(p.w, "\r%s [%s%s] %s / %s %3d%% %s/s ", p.label, strings.Repeat("#", fill), strings.Repeat(" ", width-fill),
			api.ByteSize(p.done), api.ByteSize(p.size), p.done*100/p.size, api.ByteSize(int64(rate)))
		return
	}
	fmt.Fprintf(p.w, "\r%s %s %s/s ", p.label, api.ByteSize(p.done), api.ByteSize(int64(rate)))
}

// finish ends the bar's line.
func (p *progressReader) finish() {
	p.draw(time.Now())
	fmt.Fprintln(p.w)
}

// wantProgress says whether to draw a bar for a transfer of size bytes.
func (a *app) wantProgress(forced bool, size int64) bool {
	return forced || (isTerminal(a.env.Stderr) && (size < 0 || size > 1<<20))
}

func blobPutCommand() *command {
	return &command{
		Name:    "blob put",
		Args:    "BUCKET/KEY FILE|- [flags]",
		Summary: "upload a file (or stdin) as a blob",
		Description: `Uploads FILE ("-" for stdin) as the blob KEY of BUCKET, replacing any blob of
that key once the upload is complete (an interrupted upload leaves the old
blob, or nothing). The content type is --content-type, else guessed from the
file name's extension, else application/octet-stream. Prints the blob's size
and etag (its sha256).`,
		Example: "picloud blob put photos/cat.jpg ./cat.jpg\ntar c . | picloud blob put backups/site.tar - --content-type application/x-tar",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			ctype := fs.String("content-type", "", "store `TYPE` as the blob's content type (default: from the file name)")
			progress := fs.Bool("progress", false, "draw a progress bar on stderr even when it is not a terminal")
			asJSON := fs.Bool("json", false, "print the stored blob as JSON")
			pos, err := a.parse(c, fs, args, "BUCKET/KEY", "FILE")
			if err != nil {
				return err
			}
			bucket, key, err := splitBlobPath(c, pos[0], true)
			if err != nil {
				return err
			}
			var body io.Reader
			size := int64(-1)
			if pos[1] == "-" {
				body = a.env.Stdin
			} else {
				f, err := os.Open(pos[1])
				if err != nil {
					return fmt.Errorf("open %s: %w", pos[1], err)
				}
				defer f.Close()
				st, err := f.Stat()
				if err != nil {
					return fmt.Errorf("stat %s: %w", pos[1], err)
				}
				body, size = f, st.Size()
				if *ctype == "" {
					*ctype = mime.TypeByExtension(filepath.Ext(pos[1]))
				}
			}
			if *ctype == "" {
				*ctype = mime.TypeByExtension(path.Ext(key))
			}
			var bar *progressReader
			if a.wantProgress(*progress, size) {
				bar = newProgress(body, a.env.Stderr, size, "upload")
				body = bar
			} else if size >= 0 {
				body = sizedBody{body, size}
			}
			header := http.Header{}
			if *ctype != "" {
				header.Set("Content-Type", *ctype)
			}
			cl := a.client()
			resp, err := cl.send(ctx, http.MethodPut, store.BlobPath(bucket, key), header, body)
			if bar != nil {
				bar.finish()
			}
			if err != nil {
				return fmt.Errorf("put %s/%s: %w", bucket, key, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("put %s/%s: %w", bucket, key, cl.errorFrom(resp))
			}
			var b api.BlobView
			if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
				return fmt.Errorf("put %s/%s: decode answer: %w", bucket, key, err)
			}
			if *asJSON {
				return printJSON(a.env.Stdout, b)
			}
			fmt.Fprintf(a.env.Stdout, "stored %s/%s: %d bytes, %s, etag %s\n", clean(b.Bucket), clean(b.Key), b.Size, clean(b.ContentType), b.ETag)
			return nil
		},
	}
}

// sizedBody is a reader of known size (a file), so the upload carries a
// Content-Length and the server can refuse an oversized one at once.
type sizedBody struct {
	io.Reader
	n int64
}

// Size is the body's length.
func (s sizedBody) Size() int64 { return s.n }

// openBlob starts a GET of bucket/key and returns the open answer.
func (a *app) openBlob(ctx context.Context, bucket, key string) (*http.Response, error) {
	cl := a.client()
	resp, err := cl.send(ctx, http.MethodGet, store.BlobPath(bucket, key), nil, nil)
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, cl.errorFrom(resp))
	}
	return resp, nil
}

// copyBlob streams an open answer to w, with a bar when wanted, and checks
// that the whole blob came.
func (a *app) copyBlob(resp *http.Response, w io.Writer, progress bool) error {
	var body io.Reader = resp.Body
	var bar *progressReader
	if a.wantProgress(progress, resp.ContentLength) {
		bar = newProgress(body, a.env.Stderr, resp.ContentLength, "download")
		body = bar
	}
	n, err := io.Copy(w, body)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("download: got %d of %d bytes", n, resp.ContentLength)
	}
	return nil
}

func blobGetCommand() *command {
	return &command{
		Name:    "blob get",
		Args:    "BUCKET/KEY [FILE|-] [flags]",
		Summary: "download a blob to a file",
		Description: `Downloads the blob KEY of BUCKET into FILE (default: the key's last path
element, in the current directory; "-" for stdout). The file is written
under a temporary name and renamed when complete, so an interrupted download
never leaves a partial FILE.`,
		Example: "picloud blob get photos/cat.jpg\npicloud blob get backups/site.tar - | tar x",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			progress := fs.Bool("progress", false, "draw a progress bar on stderr even when it is not a terminal")
			pos, err := a.parse(c, fs, args, "BUCKET/KEY", "[FILE]")
			if err != nil {
				return err
			}
			bucket, key, err := splitBlobPath(c, pos[0], true)
			if err != nil {
				return err
			}
			out := path.Base(key)
			if len(pos) > 1 {
				out = pos[1]
			}
			resp, err := a.openBlob(ctx, bucket, key)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if out == "-" {
				return a.copyBlob(resp, a.env.Stdout, *progress)
			}
			tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".part-*")
			if err != nil {
				return fmt.Errorf("create %s: %w", out, err)
			}
			defer os.Remove(tmp.Name()) // a no-op after the rename
			if err := a.copyBlob(resp, tmp, *progress); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Close(); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			if err := os.Rename(tmp.Name(), out); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			fmt.Fprintf(a.env.Stderr, "wrote %s (%d bytes)\n", clean(out), resp.ContentLength)
			return nil
		},
	}
}

func blobCatCommand() *command {
	return &command{
		Name:        "blob cat",
		Args:        "BUCKET/KEY",
		Summary:     "write a blob to stdout",
		Description: "Writes the blob KEY of BUCKET to stdout, as it is stored (bytes, not escaped).",
		Example:     "picloud blob cat notes/todo.txt",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			pos, err := a.parse(c, fs, args, "BUCKET/KEY")
			if err != nil {
				return err
			}
			bucket, key, err := splitBlobPath(c, pos[0], true)
			if err != nil {
				return err
			}
			resp, err := a.openBlob(ctx, bucket, key)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			return a.copyBlob(resp, a.env.Stdout, false)
		},
	}
}

func blobLsCommand() *command {
	return &command{
		Name:    "blob ls",
		Args:    "BUCKET[/PREFIX] [--json]",
		Summary: "list a bucket's blobs",
		Description: `Lists the blobs of BUCKET whose key starts with PREFIX, in key order, with
their size, content type, last update and etag.`,
		Example: "picloud blob ls photos\npicloud blob ls photos/2024/ --json",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			asJSON := fs.Bool("json", false, "print the list as JSON")
			pos, err := a.parse(c, fs, args, "BUCKET[/PREFIX]")
			if err != nil {
				return err
			}
			bucket, prefix, err := splitBlobPath(c, pos[0], false)
			if err != nil {
				return err
			}
			all, err := followPages(ctx, a.client(), "/api/v1/blobs/"+url.PathEscape(bucket), url.Values{"prefix": {prefix}}, "cursor",
				func(l *api.BlobList) ([]api.BlobView, string) { return l.Blobs, l.NextCursor })
			if err != nil {
				return fmt.Errorf("list %s: %w", bucket, err)
			}
			if all == nil {
				all = []api.BlobView{}
			}
			if *asJSON {
				return printJSON(a.env.Stdout, all)
			}
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tSIZE\tTYPE\tUPDATED\tETAG")
			for _, b := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", clean(b.Key), strconv.FormatInt(b.Size, 10), clean(b.ContentType),
					b.UpdatedAt.Local().Format(time.DateTime), b.ETag[:12])
			}
			return tw.Flush()
		},
	}
}

func blobRmCommand() *command {
	return &command{
		Name:        "blob rm",
		Args:        "BUCKET/KEY",
		Summary:     "delete a blob",
		Description: "Deletes the blob KEY of BUCKET. Its space is reclaimed by the sweeper after the grace period (picloud serve --blob-sweep-grace).",
		Example:     "picloud blob rm photos/cat.jpg",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			pos, err := a.parse(c, fs, args, "BUCKET/KEY")
			if err != nil {
				return err
			}
			bucket, key, err := splitBlobPath(c, pos[0], true)
			if err != nil {
				return err
			}
			if err := a.client().do(ctx, http.MethodDelete, store.BlobPath(bucket, key), nil, nil); err != nil {
				return fmt.Errorf("rm %s/%s: %w", bucket, key, err)
			}
			fmt.Fprintf(a.env.Stdout, "deleted %s/%s\n", clean(bucket), clean(key))
			return nil
		},
	}
}

func blobURLCommand() *command {
	return &command{
		Name:    "blob url",
		Args:    "BUCKET/KEY [--expires DURATION]",
		Summary: "print a signed URL that serves a blob without a token",
		Description: `Prints a URL that anyone can GET (or HEAD) the blob KEY of BUCKET with, no
token needed, until it expires (at most 168h). Changing any part of it makes
it answer 403. It is signed with a key kept in the database, so every node
accepts it.`,
		Example: "picloud blob url photos/cat.jpg --expires 1h",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			var expires time.Duration = time.Hour
			fs.Var(durationValue{&expires}, "expires", "how long the URL works, like 15m or 24h (default 1h)")
			pos, err := a.parse(c, fs, args, "BUCKET/KEY")
			if err != nil {
				return err
			}
			bucket, key, err := splitBlobPath(c, pos[0], true)
			if err != nil {
				return err
			}
			cl := a.client()
			var out api.BlobURL
			if err := cl.do(ctx, http.MethodPost, "/api/v1/blob-urls",
				api.BlobURLRequest{Bucket: bucket, Key: key, Expires: api.Duration(expires)}, &out); err != nil {
				return fmt.Errorf("url %s/%s: %w", bucket, key, err)
			}
			fmt.Fprintln(a.env.Stdout, clean(strings.TrimRight(cl.BaseURL, "/")+out.URL))
			return nil
		},
	}
}
