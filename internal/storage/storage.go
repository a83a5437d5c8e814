// Package storage keeps the files that workers extract, under
// <prefix>/<namespace>/<name>/<uid>/<generation>-<attempt>/<file> (see
// layout.go), in a directory (a PersistentVolume) or in an S3-compatible
// bucket, and removes them when their resource goes.
//
// Both backends share one contract, so the worker and the controller never ask
// which one they have: an object appears whole or not at all, its size and
// SHA-256 are computed while it streams through (memory does not grow with the
// object), and a size limit stops an oversized stream before it is stored.
package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Store is where extracted files live. Keys are slash-separated relative
// paths such as "ns/name/audio.m4a".
type Store interface {
	// Put stores the bytes of r under key. A reader of the store never sees a
	// partial object: the file backend renames a finished temporary file into
	// place and S3 makes an object visible only when its upload completes. Size
	// and SHA-256 are computed while the bytes pass, so memory stays bounded.
	// opts.Size >= 0 is the expected size and a different count is an error;
	// opts.MaxBytes > 0 caps the object, and going over returns an error
	// matching ErrTooLarge. On any error nothing is left behind.
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Object, error)
	// Delete removes every object whose key starts with prefix (such as
	// "ns/name/"; without the trailing slash "ns/name" would also match
	// "ns/name-2/"). The file backend also removes the directories that become
	// empty, never the root. Deleting nothing is not an error; an empty prefix
	// is, so that a bug cannot wipe the whole store.
	Delete(ctx context.Context, prefix string) error
	// List returns the keys that start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// DeleteIncomplete removes what interrupted Puts left under prefix and
	// List does not show: temporary files of the file backend, incomplete
	// multipart uploads of S3 (which a bucket bills for). A worker killed
	// mid-upload leaves them; a later attempt of the same resource sweeps
	// them. match, when not nil, chooses by the key being written (for a
	// temporary file, the key of its directory plus its own name), so that
	// a sweep can spare the uploads of an attempt that is still running.
	DeleteIncomplete(ctx context.Context, prefix string, match func(key string) bool) error
	// Stat describes the object at key; a missing object is an error
	// matching ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Open returns a reader of the stored object; the caller closes it.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// URI is where key lives, as users see it in status:
	// "file:///abs/dir/ns/name/audio.m4a" or "s3://bucket/prefix/ns/name/audio.m4a".
	URI(key string) string
	// Check verifies that the store is usable (the directory exists and is
	// writable, or the bucket exists and the credentials work). Programs call
	// it at start and on readiness; the error says what to fix.
	Check(ctx context.Context) error
}

// PutOptions describe the object that Put stores.
type PutOptions struct {
	Size      int64  // expected size, -1 when unknown
	MaxBytes  int64  // 0: no cap
	MediaType string // Content-Type for S3, e.g. "audio/mp4"
	// Writer says who stores the object (a worker names its attempt and
	// itself). It is kept with the object, not in it: as S3 user metadata
	// (x-amz-meta-ytx-writer), and as the extended attribute
	// user.ytx.writer of the file, set before the file appears. Writer
	// reads it back. Bytes outside printable ASCII are escaped (%XX), and
	// it is cut to MaxWriterLen. Empty: nothing is recorded.
	Writer string
}

// MaxWriterLen bounds PutOptions.Writer as stored: S3 allows 2 KB of user
// metadata in all.
const MaxWriterLen = 512

const (
	writerMetadata = "ytx-writer"      // S3 user metadata key
	writerXattr    = "user.ytx.writer" // extended attribute of a file
)

// writerValue is w as stored: printable ASCII, the rest escaped as %XX (and
// '%' itself), at most MaxWriterLen bytes.
func writerValue(w string) string {
	var b strings.Builder
	for i := 0; i < len(w) && b.Len() < MaxWriterLen; i++ {
		c := w[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			if b.Len()+3 > MaxWriterLen {
				break
			}
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// writerOf is implemented by both backends.
type writerOf interface {
	writer(ctx context.Context, key string) (string, error)
}

// Writer returns what PutOptions.Writer recorded with the object at key
// (escaped as stored), or "" when the object carries none: it was stored
// without one, or on a filesystem without extended attributes. A missing
// object is an error.
func Writer(ctx context.Context, s Store, key string) (string, error) {
	w, ok := s.(writerOf)
	if !ok {
		return "", fmt.Errorf("reading the writer of %s: %T records none", key, s)
	}
	if err := validKey(key); err != nil {
		return "", fmt.Errorf("reading the writer of %s: %w", key, err)
	}
	return w.writer(ctx, key)
}

// Object is what Put stored: enough for an artifact entry in status.
type Object struct {
	Key    string
	URI    string
	Size   int64
	SHA256 string // hex
}

// Info describes a stored object.
type Info struct {
	Key      string
	Size     int64
	Modified time.Time // when it was stored, by the store's clock
}

// ErrNotFound is matched (errors.Is) by the error of Stat for a key that
// holds no object.
var ErrNotFound = errors.New("no such object")

// ErrTooLarge is matched (errors.Is) by the error of a Put whose object
// exceeds PutOptions.MaxBytes. It is the one storage error that retrying
// cannot fix, so callers tell it apart from transient failures.
var ErrTooLarge = errors.New("object too large")

const usage = "use file:///absolute/dir or s3://bucket/prefix?endpoint=host:port"

// Open parses a --storage URL and returns the Store. It does no I/O, so a
// program can report a bad flag before it touches the network; Check tells
// whether the store is reachable.
//
// file:///abs/dir stores under a directory. s3://bucket/prefix stores in a
// bucket, with the query parameters endpoint (host:port; default AWS),
// region, and insecure (true: plain HTTP, for in-cluster stores without TLS).
// S3 credentials come from the environment (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or MinIO's MINIO_ROOT_USER /
// MINIO_ROOT_PASSWORD) or from the pod's IAM role, never from the URL, which
// shows up in flags, logs and status.
func Open(rawURL string) (Store, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("--storage %q: %s; %s", redact(rawURL), fmt.Sprintf(format, a...), usage)
	}
	if rawURL == "" {
		return nil, bad("empty")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, bad("not a URL")
	}
	if u.Fragment != "" || u.RawFragment != "" {
		return nil, bad("unexpected #fragment")
	}
	switch u.Scheme {
	case "file":
		if u.Opaque != "" || u.Host != "" || !filepath.IsAbs(u.Path) {
			return nil, bad("the directory must be an absolute path, with three slashes as in file:///data/ytx")
		}
		if u.User != nil || u.RawQuery != "" {
			return nil, bad("file URLs take no user or query")
		}
		return newFileStore(filepath.Clean(u.Path)), nil
	case "s3":
		if u.User != nil {
			return nil, bad("credentials do not belong in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
		if u.Host == "" {
			return nil, bad("missing bucket")
		}
		if err := s3utils.CheckValidBucketNameStrict(u.Host); err != nil {
			return nil, bad("bucket %q: %v", u.Host, err)
		}
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" {
			if err := validKey(prefix); err != nil {
				return nil, bad("prefix %q: %v", prefix, err)
			}
		}
		cfg := s3Config{bucket: u.Host, prefix: prefix, endpoint: "s3.amazonaws.com"}
		query, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return nil, bad("malformed query")
		}
		for k, v := range query {
			val := v[len(v)-1]
			switch k {
			case "endpoint":
				host, port, err := net.SplitHostPort(val)
				if err != nil || host == "" || port == "" || strings.Contains(val, "/") {
					return nil, bad("endpoint %q must be host:port without a scheme (add insecure=true for plain HTTP)", val)
				}
				cfg.endpoint = val
			case "region":
				cfg.region = val
			case "insecure":
				b, err := strconv.ParseBool(val)
				if err != nil {
					return nil, bad("insecure=%q must be true or false", val)
				}
				cfg.insecure = b
			default:
				return nil, bad("unknown parameter %q (known: endpoint, region, insecure)", k)
			}
		}
		s, err := newS3Store(cfg)
		if err != nil {
			return nil, bad("%v", err)
		}
		return s, nil
	case "":
		return nil, bad("not a URL")
	default:
		return nil, bad("unsupported scheme %q", u.Scheme)
	}
}

// redact hides a password in a URL that someone put there by mistake, so
// that the error that rejects it does not print it.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

// validKey rejects keys that could escape the store's root or that the two
// backends would read differently: "..", "." and empty segments, a leading
// "/", and segments starting with "." (the file backend's temporary files,
// which List skips).
func validKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("key %q must be relative (no leading /)", key)
	}
	if strings.ContainsAny(key, "\x00\\") {
		return fmt.Errorf("key %q contains NUL or backslash", key)
	}
	for _, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("key %q has an empty segment", key)
		case seg == "." || seg == "..":
			return fmt.Errorf("key %q has a %q segment", key, seg)
		case strings.HasPrefix(seg, "."):
			return fmt.Errorf("key %q has a segment starting with \".\" (reserved for temporary files)", key)
		}
	}
	return nil
}

// validPrefix accepts a key, a key with a trailing slash, or any leading
// part of one (List and Delete match keys by string prefix, as S3 does).
func validPrefix(prefix string, allowEmpty bool) error {
	if prefix == "" {
		if allowEmpty {
			return nil
		}
		return errors.New("empty prefix: refusing to delete the whole store")
	}
	if strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("prefix %q must be relative (no leading /)", prefix)
	}
	// The last, possibly partial, segment may be empty (trailing slash) but
	// must not start with "." or be one.
	trimmed := strings.TrimSuffix(prefix, "/")
	if err := validKey(trimmed); err != nil {
		return fmt.Errorf("prefix %q: %w", prefix, err)
	}
	return nil
}

// meter passes the bytes of a Put through, counting and hashing them, and
// turns a stream that breaks PutOptions into an error while it is still being
// read, so that the backend aborts before anything becomes visible.
type meter struct {
	ctx  context.Context
	r    io.Reader
	h    hash.Hash
	n    int64
	opts PutOptions
	err  error // sticky: once the stream is refused, it stays refused
	eof  bool  // the source was read to its end and everything checked out
}

func newMeter(ctx context.Context, r io.Reader, opts PutOptions) (*meter, error) {
	if opts.MaxBytes > 0 && opts.Size > opts.MaxBytes {
		return nil, tooLarge(opts.MaxBytes)
	}
	return &meter{ctx: ctx, r: r, h: sha256.New(), opts: opts}, nil
}

func tooLarge(max int64) error {
	return fmt.Errorf("%w: more than the limit of %d bytes", ErrTooLarge, max)
}

func (m *meter) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	if m.eof {
		return 0, io.EOF
	}
	if err := m.ctx.Err(); err != nil {
		m.err = err
		return 0, err
	}
	n, err := m.r.Read(p)
	if err := m.account(p[:n]); err != nil {
		return 0, err
	}
	if err == nil && m.opts.Size >= 0 && m.n == m.opts.Size {
		// Everything expected has arrived. A consumer that knows the size
		// (an S3 PUT with Content-Length) stops reading here, so look one
		// byte ahead now: a longer stream must fail, not be cut short.
		var one [1]byte
		k, perr := io.ReadFull(m.r, one[:])
		if k > 0 {
			m.err = fmt.Errorf("size mismatch: more than the expected %d bytes", m.opts.Size)
			return 0, m.err
		}
		err = perr
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
	}
	switch {
	case err == io.EOF:
		if m.opts.Size >= 0 && m.n != m.opts.Size {
			m.err = fmt.Errorf("size mismatch: got %d bytes, expected %d", m.n, m.opts.Size)
			return 0, m.err
		}
		m.eof = true
	case err != nil:
		m.err = err
	}
	return n, err
}

func (m *meter) account(b []byte) error {
	if m.opts.MaxBytes > 0 && m.n+int64(len(b)) > m.opts.MaxBytes {
		m.err = tooLarge(m.opts.MaxBytes)
		return m.err
	}
	if m.opts.Size >= 0 && m.n+int64(len(b)) > m.opts.Size {
		m.err = fmt.Errorf("size mismatch: more than the expected %d bytes", m.opts.Size)
		return m.err
	}
	m.h.Write(b)
	m.n += int64(len(b))
	return nil
}

// finish reads on to the end if the consumer stopped early and reports
// whether the stream was complete and valid.
func (m *meter) finish() error {
	if m.err == nil && !m.eof {
		var buf [1]byte
		for m.err == nil && !m.eof {
			m.Read(buf[:]) //nolint:errcheck // the outcome is in m.err / m.eof
		}
	}
	return m.err
}

func (m *meter) object(key, uri string) Object {
	return Object{Key: key, URI: uri, Size: m.n, SHA256: hex.EncodeToString(m.h.Sum(nil))}
}
