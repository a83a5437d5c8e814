// Package download fetches a YouTube media stream into a file with ranged
// requests in parallel chunks, retrying each chunk on its own.
//
// It replaces kkdai/youtube's stream reader, which buffers whole 10 MiB
// chunks in memory (up to 10 at once) and retries nothing. Here every chunk
// is copied from the response body straight to its place in the file, so
// memory does not grow with the chunk size or with the stream, and a chunk
// that fails (5xx, 429, a 403 for one range, a connection cut mid-body, a
// short body) is fetched again from its start with backoff.
//
// BenchmarkDownload500MB measures it: a 500 MB stream raises the process's
// peak RSS by about 10 MB with the defaults, where kkdai's reader on the same
// stream (BenchmarkKkdaiReader500MB) raises it by about 290 MB.
package download

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	kkdai "github.com/kkdai/youtube/v2"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/util/wait"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/youtube"
)

// Defaults of Options. BenchmarkChunkMatrix (500 MB from the fake YouTube
// over TLS and HTTP/2 on loopback, 1-8 MiB × 2-8 in flight) found no
// difference in throughput beyond the noise (it is CPU-bound there) and
// peak RSS within 26-31 MB for all of them (20 MB before the download), so
// the defaults are chosen for real networks: 4 MiB is what one failure costs
// again and gives 125 requests for 500 MB; 4 chunks in flight hide each
// request's round trip without asking googlevideo for many ranges at once.
const (
	DefaultChunkSize = 4 << 20
	DefaultParallel  = 4
)

// DefaultBackoff is the per-chunk retry schedule: 4 attempts, waiting about
// 250 ms, 500 ms and 1 s (each plus up to 10%) between them.
var DefaultBackoff = wait.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 4}

// copyBufferSize is the buffer each chunk in flight copies through.
const copyBufferSize = 128 << 10

// Options tune a Downloader. The zero value uses the defaults.
type Options struct {
	// ChunkSize is the number of bytes asked for in one ranged request;
	// 0 means DefaultChunkSize (4 MiB).
	//
	// It does not bound memory: chunks are never held in memory, each is
	// copied through a 128 KiB buffer straight to the file. What the
	// downloader itself holds is Parallel × 128 KiB (512 KiB by default),
	// whatever ChunkSize and the stream's size. On top of that the HTTP
	// transport buffers what has arrived but is not yet read, which over
	// HTTP/2 is bounded by the per-stream flow-control window (4 MiB per
	// chunk in flight with Go's defaults) and stays near zero while the disk
	// keeps up with the network. ChunkSize decides how much is fetched
	// again when a chunk fails, and how many requests a stream takes.
	ChunkSize int64
	// Parallel is the number of chunks in flight; 0 means DefaultParallel
	// (4).
	Parallel int
	// Backoff is the retry schedule of each chunk, with the meaning that
	// wait.ExponentialBackoff gives it: Steps is the number of attempts (so
	// Steps-1 retries), Duration the first wait, multiplied by Factor after
	// each retry, plus up to Jitter×Duration. A Cap, once reached, ends the
	// retries (apimachinery's rule). The zero value means DefaultBackoff;
	// Steps < 1 in an otherwise set Backoff means DefaultBackoff.Steps.
	Backoff wait.Backoff
	// MaxBytes caps the stream's size; 0 means no cap. A stream whose size
	// is known (advertised, or from a HEAD) and larger fails before any byte
	// is downloaded; one of unknown size fails as soon as it passes the cap.
	// Either way the error has Reason ArtifactTooLarge and is permanent.
	MaxBytes int64
	// IdleTimeout ends a chunk whose connection delivers nothing for this
	// long (the request, its headers or its body), so that a stalled
	// connection costs a retry, not the job; 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// DefaultIdleTimeout is how long a chunk may receive nothing before it is
// retried. googlevideo sometimes keeps a connection open and stops sending.
const DefaultIdleTimeout = 30 * time.Second

// errStalled is the cause of a chunk ended by the idle timeout.
var errStalled = errors.New("no bytes arrived within the idle timeout")

// Downloader fetches a media URL (as resolved by youtube.Client.StreamURL)
// into a file with ranged requests in parallel chunks, through the given
// http.Client (the same one kkdai uses, so proxies and CAs apply).
type Downloader struct {
	// HTTP carries every request; nil means youtube.NewMediaClient's
	// default client. It should have no overall Timeout (a long download
	// may rightly take an hour): bound the download with ToFile's context.
	HTTP    *http.Client
	Options Options
}

var defaultHTTPClient = sync.OnceValue(func() *http.Client { return youtube.NewMediaClient(youtube.HTTPOptions{}) })

// ToFile downloads url into path (created, or truncated if it exists).
//
// size is the advertised content length (kkdai's Format.ContentLength); 0 or
// negative means unknown, and then ToFile asks the server with a HEAD. If the
// HEAD gives no length (any failure but 404/410 and cancellation), it falls
// back to one streamed GET of the whole URL, retried from the start like a
// chunk.
//
// With a known size, each chunk is a GET of url with googlevideo's
// `range=A-B` query parameter (as kkdai and YouTube's web player ask),
// answered by 200 (or 206) with exactly B-A+1 bytes, which are written with
// WriteAt straight from the response body to the file.
//
// A chunk that fails (5xx, 429, 403, connection reset or cut mid-body, short
// or wrong-length body) is retried from its start with Options.Backoff; when
// its attempts run out the whole download fails. 404, 410 and 416 fail at
// once, as does a failure to write the file.
//
// progress, if not nil, is called from any goroutine with the number of new
// bytes written; bytes that a retried chunk writes again are not counted
// again, so the calls add up to the stream's size exactly on success.
//
// Errors are *failure.Error:
//   - 403 on every attempt of a chunk: Forbidden, permanent;
//   - 404 or 410: VideoUnavailable, permanent;
//   - larger than Options.MaxBytes: ArtifactTooLarge, permanent;
//   - 403 on the first attempt with Stream.RefusalEndsIt: Forbidden,
//     retryable (another resolver may be tried at once);
//   - attempts exhausted on 429: RateLimited, retryable;
//   - attempts exhausted on 5xx, network errors and bad bodies, or 416:
//     DownloadFailed, transient;
//   - writing the file: ScratchFailed, transient;
//   - ctx ending: youtube.Classify of ctx's error (DownloadFailed or
//     Timeout, transient; errors.Is finds context.Canceled or
//     context.DeadlineExceeded). Every request and goroutine has ended
//     when ToFile returns.
//
// On error, the file at path is removed, unless ToFile failed before opening
// it (a bad URL, or a size over MaxBytes), in which case it is left alone.
func (d *Downloader) ToFile(ctx context.Context, url string, size int64, path string, progress func(int64)) error {
	return d.Fetch(ctx, Stream{URL: url, Size: size}, path, progress)
}

// Stream is what Fetch downloads.
type Stream struct {
	// URL of the stream, as the resolver gave it.
	URL string
	// Header is sent with every request (yt-dlp says which a format
	// needs); only the headers in sentHeaders are taken. Nil: what kkdai
	// sends.
	Header http.Header
	// Size is the advertised content length; 0 or negative: unknown.
	Size int64
	// RefusalEndsIt: a 403 ends the download at its first refusal instead
	// of after the chunk's retries. The worker sets it when another
	// resolver can be tried, because YouTube refuses every request of a
	// client it no longer serves, and a retry would only cost time.
	RefusalEndsIt bool
}

// sentHeaders are the headers a resolver may ask to send with media
// requests; others (Host, Range, Cookie, ...) are the transport's or not
// wanted.
var sentHeaders = []string{"User-Agent", "Accept", "Accept-Language", "Sec-Fetch-Mode", "Origin", "Referer"}

// Fetch is ToFile for a Stream: with its headers, and its refusal rule.
func (d *Downloader) Fetch(ctx context.Context, s Stream, path string, progress func(int64)) error {
	url, size := s.URL, s.Size
	if progress == nil {
		progress = func(int64) {}
	}
	j := &job{opts: d.Options.withDefaults(), hc: d.HTTP, progress: progress, header: s.Header, refusalEndsIt: s.RefusalEndsIt}
	if j.hc == nil {
		j.hc = defaultHTTPClient()
	}
	if err := j.parseURL(url); err != nil {
		return err
	}
	if err := j.tooLarge(size); err != nil {
		return err
	}
	if size <= 0 {
		n, err := j.head(ctx)
		if err != nil {
			return err
		}
		if err := j.tooLarge(n); err != nil {
			return err
		}
		size = n // -1 when the server did not tell
	}

	f, err := os.Create(path)
	if err != nil {
		return failure.Scratch("creating the download", path, err)
	}
	if size >= 0 {
		err = j.chunked(ctx, f, size)
	} else {
		err = j.streamed(ctx, f)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = failure.Scratch("writing the download", path, cerr)
	}
	if err != nil {
		os.Remove(path) //nolint:errcheck // best effort; the error that matters is err
		if ctx.Err() != nil {
			return youtube.Classify(ctx.Err())
		}
		return err
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Backoff == (wait.Backoff{}) {
		o.Backoff = DefaultBackoff
	} else if o.Backoff.Steps < 1 {
		o.Backoff.Steps = DefaultBackoff.Steps
	}
	return o
}

// job is one ToFile call.
type job struct {
	opts     Options
	hc       *http.Client
	progress func(int64)
	// base is the URL without a range parameter; rangeQuery is its raw
	// query, to which "&range=A-B" is appended for each chunk.
	base       *url.URL
	rangeQuery string
	// header is the stream's own headers (Stream.Header).
	header        http.Header
	refusalEndsIt bool
}

func (j *job) parseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return failure.Permanent(v1alpha1.ReasonDownloadFailed, err,
			"the stream URL %q is not an http(s) URL; this is a bug in ytx or a change in YouTube's answers", truncate(youtube.RedactURL(raw), 80))
	}
	// Keep the query as YouTube wrote it (re-encoding would reorder it);
	// only a range parameter already present is dropped, since each chunk
	// sets its own.
	if q := u.Query(); q.Has("range") {
		q.Del("range")
		u.RawQuery = q.Encode()
	}
	j.base = u
	j.rangeQuery = u.RawQuery
	if j.rangeQuery != "" {
		j.rangeQuery += "&"
	}
	j.rangeQuery += "range="
	return nil
}

// request makes a request for the stream, or for bytes [start, end] of it
// with the range query parameter when end >= 0.
func (j *job) request(ctx context.Context, method string, start, end int64) (*http.Request, error) {
	u := *j.base
	if end >= 0 {
		u.RawQuery = j.rangeQuery + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end, 10)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if j.header == nil {
		// What kkdai sends for media: googlevideo may tie a URL to the
		// client that asked for it, and kkdai asks as its DefaultClient.
		req.Header.Set("User-Agent", kkdai.DefaultClient.UserAgent)
		req.Header.Set("Origin", "https://youtube.com")
	}
	for _, k := range sentHeaders {
		if v := j.header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	// Byte counts must be those of the stream: no transparent gzip.
	req.Header.Set("Accept-Encoding", "identity")
	return req, nil
}

// head asks the server for the stream's size; -1 means it did not say.
func (j *job) head(ctx context.Context) (int64, error) {
	req, err := j.request(ctx, http.MethodHead, 0, -1)
	if err != nil {
		return -1, err
	}
	resp, err := j.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, youtube.Classify(ctx.Err())
		}
		return -1, nil // the GET will tell (and will be refused the same way)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return -1, youtube.Classify(kkdai.ErrUnexpectedStatusCode(resp.StatusCode))
	case resp.StatusCode == http.StatusOK && resp.ContentLength >= 0:
		return resp.ContentLength, nil
	}
	return -1, nil
}

// tooLarge is the cap's error for a stream of a known size, or nil.
func (j *job) tooLarge(size int64) error {
	if j.opts.MaxBytes <= 0 || size <= j.opts.MaxBytes {
		return nil
	}
	return failure.Permanent(v1alpha1.ReasonArtifactTooLarge, nil,
		"the stream is %d bytes (%s), more than this worker's limit of %d bytes (%s) set by --max-artifact-bytes; nothing was downloaded. Raise the limit, or ask for a smaller stream (a lower video.maxHeight)",
		size, human(size), j.opts.MaxBytes, human(j.opts.MaxBytes))
}

func (j *job) capPassed() error {
	return failure.Permanent(v1alpha1.ReasonArtifactTooLarge, nil,
		"the stream passed this worker's limit of %d bytes (%s) set by --max-artifact-bytes (YouTube did not tell its size in advance); the download was stopped. Raise the limit, or ask for a smaller stream (a lower video.maxHeight)",
		j.opts.MaxBytes, human(j.opts.MaxBytes))
}

// chunked downloads a stream of a known size in parallel ranged requests.
func (j *job) chunked(ctx context.Context, f *os.File, size int64) error {
	if size == 0 {
		return nil
	}
	chunk := j.opts.ChunkSize
	n := (size + chunk - 1) / chunk
	workers := int64(j.opts.Parallel)
	if workers > n {
		workers = n
	}
	g, gctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range workers {
		g.Go(func() error {
			buf := make([]byte, copyBufferSize)
			for {
				i := next.Add(1) - 1
				if i >= n || gctx.Err() != nil {
					return nil
				}
				start := i * chunk
				end := min(start+chunk, size) - 1
				if err := j.withRetries(gctx, f, buf, start, end); err != nil {
					return err
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return failure.Scratch("checking the download", f.Name(), err)
	}
	if fi.Size() != size {
		return failure.Retryable(v1alpha1.ReasonDownloadFailed, nil,
			"the downloaded file has %d bytes where the stream has %d; ytx retries", fi.Size(), size)
	}
	return nil
}

// streamed downloads a stream of unknown size in one GET, retried from the
// start.
func (j *job) streamed(ctx context.Context, f *os.File) error {
	buf := make([]byte, copyBufferSize)
	if err := j.withRetries(ctx, f, buf, 0, -1); err != nil {
		return err
	}
	return ctx.Err()
}

// withRetries fetches bytes [start, end] (end < 0: the whole stream) into f
// at start, with the chunk's retries.
func (j *job) withRetries(ctx context.Context, f *os.File, buf []byte, start, end int64) error {
	var (
		reported int64 // high-water mark of bytes counted in progress
		attempts int
		forbid   = true // every attempt answered 403
		last     error
		stop     error // an error that retries cannot mend
	)
	err := wait.ExponentialBackoffWithContext(ctx, j.opts.Backoff, func(ctx context.Context) (bool, error) {
		attempts++
		err := j.fetch(ctx, f, buf, start, end, &reported)
		if err == nil {
			return true, nil
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		last = err
		var se *statusError
		if !errors.As(err, &se) || se.code != http.StatusForbidden {
			forbid = false
		}
		var fe *final
		if errors.As(err, &fe) {
			stop = fe.err
			return false, stop
		}
		if forbid && j.refusalEndsIt {
			return false, err
		}
		return false, nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case stop != nil:
		return stop
	case forbid && j.refusalEndsIt:
		return failure.Retryable(v1alpha1.ReasonForbidden, last,
			"googlevideo refused the stream (HTTP 403) that the resolver's client was given: YouTube no longer serves that client's media, or blocks the worker's address")
	}

	what := "the stream"
	if end >= 0 {
		what = fmt.Sprintf("bytes %d-%d of the stream", start, end)
	}
	if forbid {
		return failure.Permanent(v1alpha1.ReasonForbidden, last,
			"googlevideo refused %s repeatedly (HTTP 403 on all %d attempts): the video is probably region-locked or YouTube blocks the worker's IP address; run the worker from another network or through a proxy (HTTPS_PROXY)",
			what, attempts)
	}
	var se *statusError
	if errors.As(last, &se) && se.code == http.StatusTooManyRequests {
		return failure.Retryable(v1alpha1.ReasonRateLimited, last,
			"googlevideo is rate-limiting this worker (HTTP 429 on %d attempts for %s); ytx waits and retries later. If it keeps happening, spread the workers over several addresses (--proxy) or slow them down (--youtube-min-interval)", attempts, what)
	}
	return failure.Retryable(v1alpha1.ReasonDownloadFailed, last, "downloading %s failed %d times; ytx retries", what, attempts)
}

// statusError is an unexpected HTTP status. It unwraps to kkdai's error
// value, so youtube.Classify understands it.
type statusError struct {
	code       int
	start, end int64
}

func (e *statusError) Error() string {
	if e.end < 0 {
		return fmt.Sprintf("GET stream: HTTP %d %s", e.code, http.StatusText(e.code))
	}
	return fmt.Sprintf("GET range %d-%d: HTTP %d %s", e.start, e.end, e.code, http.StatusText(e.code))
}

func (e *statusError) Unwrap() error { return kkdai.ErrUnexpectedStatusCode(e.code) }

// final marks an attempt's error that retries cannot mend; err is the
// *failure.Error to return.
type final struct{ err error }

func (e *final) Error() string { return e.err.Error() }
func (e *final) Unwrap() error { return e.err }

// fetch makes one attempt at bytes [start, end] (end < 0: the whole stream).
// reported is the chunk's progress high-water mark across attempts.
func (j *job) fetch(ctx context.Context, f *os.File, buf []byte, start, end int64, reported *int64) (err error) {
	// A watchdog cancels the chunk when nothing arrives for IdleTimeout;
	// every read that brings bytes resets it.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(j.opts.IdleTimeout, func() { cancel(errStalled) })
	defer watchdog.Stop()
	defer func() {
		if err != nil && errors.Is(context.Cause(ctx), errStalled) {
			err = fmt.Errorf("%s: %w after %s", rangeText(start, end), errStalled, j.opts.IdleTimeout)
		}
	}()
	req, err := j.request(ctx, http.MethodGet, start, end)
	if err != nil {
		return &final{youtube.Classify(err)}
	}
	resp, err := j.hc.Do(req)
	if err != nil {
		// Do's error carries the signed URL.
		youtube.RedactError(err)
		if errors.Is(err, youtube.ErrForeignHost) || errors.Is(err, youtube.ErrTooManyRedirects) {
			// The same URL leads to the same place on every try.
			return &final{youtube.Classify(err)}
		}
		return err
	}
	defer resp.Body.Close()

	switch code := resp.StatusCode; {
	case code == http.StatusOK, code == http.StatusPartialContent && end >= 0:
	case code == http.StatusNotFound, code == http.StatusGone:
		return &final{youtube.Classify(&statusError{code: code, start: start, end: end})}
	case code == http.StatusRequestedRangeNotSatisfiable:
		return &final{failure.Retryable(v1alpha1.ReasonDownloadFailed, &statusError{code: code, start: start, end: end},
			"googlevideo has no bytes %d-%d: the stream is shorter than YouTube advertised; ytx retries with fresh stream URLs", start, end)}
	case code == http.StatusForbidden, code == http.StatusTooManyRequests, code == http.StatusRequestTimeout, code >= 500:
		return &statusError{code: code, start: start, end: end}
	default:
		return &final{youtube.Classify(&statusError{code: code, start: start, end: end})}
	}

	want := int64(-1)
	if end >= 0 {
		want = end - start + 1
		if resp.ContentLength >= 0 && resp.ContentLength != want {
			return fmt.Errorf("range %d-%d: the answer announces %d bytes, want %d", start, end, resp.ContentLength, want)
		}
	} else if j.opts.MaxBytes > 0 && resp.ContentLength > j.opts.MaxBytes {
		return &final{j.tooLarge(resp.ContentLength)}
	}

	var written int64
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			watchdog.Reset(j.opts.IdleTimeout)
			if want >= 0 && written+int64(n) > want {
				return fmt.Errorf("range %d-%d: the answer has more than the %d bytes asked for", start, end, want)
			}
			if want < 0 && j.opts.MaxBytes > 0 && written+int64(n) > j.opts.MaxBytes {
				return &final{j.capPassed()}
			}
			if _, werr := f.WriteAt(buf[:n], start+written); werr != nil {
				return &final{failure.Scratch("writing the download", f.Name(), werr)}
			}
			written += int64(n)
			if written > *reported {
				j.progress(written - *reported)
				*reported = written
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("reading %s after %d bytes: %w", rangeText(start, end), written, rerr)
		}
	}
	if want >= 0 && written != want {
		return fmt.Errorf("range %d-%d: the answer has %d bytes, want %d", start, end, written, want)
	}
	if want < 0 {
		if resp.ContentLength >= 0 && written != resp.ContentLength {
			return fmt.Errorf("the stream has %d bytes, its answer announced %d", written, resp.ContentLength)
		}
		// A previous attempt may have written more.
		if err := f.Truncate(written); err != nil {
			return &final{failure.Scratch("writing the download", f.Name(), err)}
		}
	}
	return nil
}

func rangeText(start, end int64) string {
	if end < 0 {
		return "the stream"
	}
	return fmt.Sprintf("range %d-%d", start, end)
}

// human writes n bytes in binary units: "1.5 GiB".
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
