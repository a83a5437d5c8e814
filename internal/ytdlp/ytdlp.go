// Package ytdlp is the resolver that asks yt-dlp: a subprocess per video,
// `yt-dlp -J`, whose JSON lists the video's metadata and formats with the
// URL and headers of each. ytx then downloads the formats with its own
// downloader, as it does kkdai's.
//
// yt-dlp is updated within days of each change YouTube makes; running it
// as a program keeps Python out of the worker's process and its failures
// inside the job that met them. Every run is bounded: in time, in output,
// in the number at once, and in what it may reach (its only route out is
// the worker's Egress proxy, which admits YouTube's hosts alone). It never
// reads a config file or a plugin unless the operator adds the flags for
// it, and gets only the environment it needs (no credentials of the
// worker's).
package ytdlp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/semaphore"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
)

// MinVersion is the oldest yt-dlp ytx is tested with. Older ones cannot read
// today's YouTube: its clients were refused months ago.
const MinVersion = "2026.11.23"

// Options tune the resolver; zero values take the defaults.
type Options struct {
	// Path is the program; "" is "yt-dlp" on PATH.
	Path string
	// Timeout bounds one run (default 2 minutes).
	Timeout time.Duration
	// MaxProcs bounds the runs at once per worker (default 4); more jobs
	// wait their turn.
	MaxProcs int
	// MaxOutput bounds the JSON a run may print (default 64 MiB; a real
	// video's is under 2 MiB, most of it the caption list).
	MaxOutput int64
	// ExtractorArgs are passed as --extractor-args each, e.g.
	// "youtube:player_client=web;po_token=web.gvs+TOKEN".
	ExtractorArgs []string
	// Args are more arguments the operator chose (a --config-locations, a
	// --plugin-dirs); none by default.
	Args []string
	// Egress is yt-dlp's only route to YouTube. Required.
	Egress *youtube.Egress
	// Env is added to the child's environment (tests point SSL_CERT_FILE
	// at a fake's CA).
	Env []string
	// CacheDir is yt-dlp's cache (player scripts, signature functions);
	// "" runs it with --no-cache-dir.
	CacheDir string
}

// Resolver runs yt-dlp.
type Resolver struct {
	opts Options
	sem  *semaphore.Weighted
	// found: the program is on PATH (or at Path).
	found bool
	// ready is closed once the version probe has ended; version and
	// broken are set before.
	ready   chan struct{}
	version string
	// broken says why yt-dlp cannot run, "" when it can.
	broken string
}

var _ resolver.Resolver = (*Resolver)(nil)

// New checks that yt-dlp runs (`yt-dlp --version`) and returns the
// resolver. A yt-dlp that is missing, broken or too old does not stop the
// worker: Check says why, and every Resolve fails with that, so that the
// chain can go on with the next resolver.
func New(ctx context.Context, opts Options) *Resolver {
	if opts.Path == "" {
		opts.Path = "yt-dlp"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	if opts.MaxProcs <= 0 {
		opts.MaxProcs = 4
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = 64 << 20
	}
	r := &Resolver{opts: opts, sem: semaphore.NewWeighted(int64(opts.MaxProcs)), ready: make(chan struct{})}
	path, err := exec.LookPath(opts.Path)
	if err != nil {
		r.broken = fmt.Sprintf("yt-dlp is not installed (%s not found)", opts.Path)
		close(r.ready)
		return r
	}
	r.found = true
	// Python takes a second or more to start: the worker does not wait
	// for it, its first yt-dlp job does.
	go func() {
		defer close(r.ready)
		r.version, r.broken = probe(context.WithoutCancel(ctx), path)
	}()
	return r
}

// Found reports whether the program exists (it may still not run).
func (r *Resolver) Found() bool { return r.found }

// probe runs yt-dlp --version.
func probe(ctx context.Context, path string) (version, broken string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Env = baseEnv(os.TempDir())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &tail{max: 4096, buf: &errOut}
	if err := cmd.Run(); err != nil {
		return "", fmt.Sprintf("yt-dlp (%s) does not run: %v: %s", path, err, lastLine(errOut.String()))
	}
	version = strings.TrimSpace(out.String())
	if !versionAtLeast(version, MinVersion) {
		return version, fmt.Sprintf("yt-dlp %s is too old: ytx needs %s or newer", version, MinVersion)
	}
	return version, ""
}

// versionAtLeast compares yt-dlp's date versions (2026.11.23, 2026.11.23.1).
func versionAtLeast(v, min string) bool {
	parse := func(s string) []int {
		var out []int
		for _, p := range strings.Split(strings.TrimSpace(s), ".") {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil
			}
			out = append(out, n)
		}
		return out
	}
	a, b := parse(v), parse(min)
	if a == nil {
		return false
	}
	for i := range b {
		if i >= len(a) {
			return false
		}
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return true
}

// Name is resolver.YTDLP.
func (r *Resolver) Name() string { return resolver.YTDLP }

// Version is yt-dlp's version, "" when it does not run. It waits for the
// probe that New started.
func (r *Resolver) Version() string {
	<-r.ready
	return r.version
}

// Check is nil when yt-dlp runs, else an error that says what to install.
// It waits for the probe that New started.
func (r *Resolver) Check() error {
	<-r.ready
	if r.broken == "" {
		return nil
	}
	return errors.New(r.broken + "; install yt-dlp " + MinVersion + " or newer (hack/install-yt-dlp.sh does, from Debian's trixie-backports) or point --ytdlp at it, or leave yt-dlp out of --resolvers")
}

// MediaURL is the format's own URL and headers: yt-dlp gives them whole.
func (r *Resolver) MediaURL(_ context.Context, _ resolver.Request, _ *resolver.Video, f *resolver.Format) (string, http.Header, error) {
	return f.URL, f.Header, nil
}

// Resolve runs yt-dlp -J on the video's watch URL, which ytx builds from
// the validated ID: yt-dlp never sees a user's text.
func (r *Resolver) Resolve(ctx context.Context, req resolver.Request) (*resolver.Video, error) {
	if err := r.Check(); err != nil {
		return nil, failure.Retryable(v1alpha1.ReasonForbidden, fmt.Errorf("%w: %v", resolver.ErrUnavailable, err), "%s", err.Error())
	}
	if err := r.sem.Acquire(ctx, 1); err != nil {
		return nil, youtube.Classify(err)
	}
	defer r.sem.Release(1)
	out, err := r.run(ctx, req)
	if err != nil {
		return nil, err
	}
	v, err := parse(out, req.VideoID)
	if err != nil {
		return nil, failure.Retryable(v1alpha1.ReasonDownloadFailed, err,
			"yt-dlp's answer for video %s cannot be read (%v); ytx retries. If it keeps happening, yt-dlp and ytx disagree: update them", req.VideoID, err)
	}
	v.ResolverVersion = r.version
	return v, nil
}

// run runs yt-dlp once on a video and returns its standard output.
func (r *Resolver) run(parent context.Context, req resolver.Request) ([]byte, error) {
	return r.exec(parent, req, invocation{
		mode: []string{"--no-playlist"}, link: "https://www.youtube.com/watch?v=" + req.VideoID,
		subject: "video " + req.VideoID, what: "any video's metadata",
		classify: func(stderr string, err error) error { return classify(req.VideoID, stderr, err) },
	})
}

// invocation is what one run of yt-dlp is for.
type invocation struct {
	// mode are the arguments that say what to read; link is the URL,
	// built by ytx from validated parts.
	mode []string
	link string
	// subject names what is read in messages ("video ID"); what is what
	// its output should be no larger than.
	subject, what string
	// classify turns a failed run's stderr into a failure.
	classify func(stderr string, err error) error
}

// exec runs yt-dlp once and returns its standard output.
func (r *Resolver) exec(parent context.Context, req resolver.Request, inv invocation) ([]byte, error) {
	ctx, cancel := context.WithTimeout(parent, r.opts.Timeout)
	defer cancel()
	route, release := r.opts.Egress.Route(req.Proxy)
	defer release()
	args, err := r.args(req, inv.mode, inv.link)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, r.opts.Path, args...)
	cmd.Dir = req.Scratch
	cmd.Env = append(baseEnv(req.Scratch), "HTTPS_PROXY="+route.String(), "HTTP_PROXY="+route.String(), "https_proxy="+route.String(), "http_proxy="+route.String())
	cmd.Env = append(cmd.Env, r.opts.Env...)
	ownProcessGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	stdout := &capped{max: r.opts.MaxOutput}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &tail{max: 16 << 10, buf: &stderr}
	runErr := cmd.Run()
	switch {
	case stdout.over:
		return nil, failure.Retryable(v1alpha1.ReasonDownloadFailed, youtube.ErrTooLongAnswer,
			"yt-dlp printed more than %d MiB for %s, far more than %s; it was stopped. If it keeps happening, a proxy may be rewriting YouTube's answers", r.opts.MaxOutput>>20, inv.subject, inv.what)
	case parent.Err() != nil:
		return nil, youtube.Classify(parent.Err())
	case ctx.Err() != nil:
		return nil, failure.Retryable(v1alpha1.ReasonTimeout, ctx.Err(),
			"yt-dlp did not finish reading %s within %s (--ytdlp-timeout); it was stopped, and ytx retries", inv.subject, r.opts.Timeout)
	case runErr != nil:
		return nil, inv.classify(youtube.RedactText(stderr.String()), runErr)
	}
	return stdout.Bytes(), nil
}

// args are yt-dlp's arguments for one run: mode says what to read, link
// where. The same in tests and in production: --compat-options no-certifi
// makes it trust the CAs the system (and SSL_CERT_FILE) names, as the
// worker does.
func (r *Resolver) args(req resolver.Request, mode []string, link string) ([]string, error) {
	args := append([]string{"--ignore-config", "--no-plugin-dirs"}, mode...)
	args = append(args, "--dump-single-json", "--compat-options", "no-certifi", "--socket-timeout", "30", "--no-progress")
	if r.opts.CacheDir != "" {
		args = append(args, "--cache-dir", r.opts.CacheDir)
	} else {
		args = append(args, "--no-cache-dir")
	}
	for _, a := range r.opts.ExtractorArgs {
		args = append(args, "--extractor-args", a)
	}
	if req.Cookies != "" {
		// yt-dlp writes the cookies it ends with back into the file: it
		// gets a private copy, so the mounted Secret stays as it is and
		// jobs do not share one file.
		copyPath := filepath.Join(req.Scratch, "cookies.txt")
		if err := copyFile(req.Cookies, copyPath); err != nil {
			return nil, failure.Scratch("copying the cookies file to", copyPath, err)
		}
		args = append(args, "--cookies", copyPath)
	}
	args = append(args, r.opts.Args...)
	return append(args, "--", link), nil
}

// baseEnv is the environment yt-dlp runs with: enough to find Python and a
// JavaScript runtime, the CAs the worker trusts, a home in scratch; none of
// the worker's own variables (storage credentials and the like).
func baseEnv(home string) []string {
	env := []string{"HOME=" + home, "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "PYTHONIOENCODING=utf-8"}
	for _, k := range []string{"PATH", "SSL_CERT_FILE", "SSL_CERT_DIR", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// capped is a buffer that stops taking bytes past max (and says so), so
// that a runaway yt-dlp is stopped by its failed write, not by memory. (It
// holds its buffer rather than embedding it: bytes.Buffer's ReadFrom would
// let io.Copy go around Write.)
type capped struct {
	buf  bytes.Buffer
	max  int64
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if int64(c.buf.Len()+len(p)) > c.max {
		c.over = true
		return 0, errors.New("output too large")
	}
	return c.buf.Write(p)
}

func (c *capped) Bytes() []byte { return c.buf.Bytes() }

// tail keeps the last max bytes written.
type tail struct {
	max int
	buf *bytes.Buffer
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
