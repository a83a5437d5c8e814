package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// partSize is what an S3 upload of unknown or large size holds in memory:
// one part at a time, no concurrent part buffers. 16 MiB × 10000 parts
// allows objects up to 156 GiB.
const partSize = 16 << 20

type s3Config struct {
	bucket, prefix, endpoint, region string
	insecure                         bool
}

// s3Store keeps objects in a bucket of any S3-compatible store, under
// prefix/key. S3 makes an object visible only when its PUT or multipart
// upload completes, so readers never see a partial object.
type s3Store struct {
	cfg    s3Config
	client *minio.Client
	probe  *minio.Client // no retries, for Check
	creds  *credentials.Credentials
	loc    string // s3://bucket/prefix, for messages
}

func newS3Store(cfg s3Config) (*s3Store, error) {
	// Credentials are looked up on each request, not here: environment
	// first, then the pod's IAM role (IRSA, EKS Pod Identity, EC2).
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.EnvMinio{},
		&credentials.IAM{},
	})
	opts := minio.Options{Creds: creds, Secure: !cfg.insecure, Region: cfg.region}
	client, err := minio.New(cfg.endpoint, &opts)
	if err != nil {
		return nil, err
	}
	// Check answers a readiness probe: it must say "down" at once, not
	// after the ten retries that suit an upload.
	opts.MaxRetries = 1
	probe, err := minio.New(cfg.endpoint, &opts)
	if err != nil {
		return nil, err
	}
	loc := (&url.URL{Scheme: "s3", Host: cfg.bucket, Path: "/" + cfg.prefix}).String()
	return &s3Store{cfg: cfg, client: client, probe: probe, creds: creds, loc: strings.TrimSuffix(loc, "/")}, nil
}

func (s *s3Store) object(key string) string {
	if s.cfg.prefix == "" {
		return key
	}
	return s.cfg.prefix + "/" + key
}

// key is the store's key of a bucket's object name: object's inverse.
func (s *s3Store) key(object string) string {
	if s.cfg.prefix == "" {
		return object
	}
	return strings.TrimPrefix(object, s.cfg.prefix+"/")
}

func (s *s3Store) URI(key string) string {
	return (&url.URL{Scheme: "s3", Host: s.cfg.bucket, Path: "/" + path.Join(s.cfg.prefix, key)}).String()
}

func (s *s3Store) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Object, error) {
	obj, err := s.put(ctx, key, r, opts)
	if err != nil {
		return Object{}, fmt.Errorf("storing %s in %s: %w", key, s.loc, err)
	}
	return obj, nil
}

func (s *s3Store) put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Object, error) {
	if err := validKey(key); err != nil {
		return Object{}, err
	}
	m, err := newMeter(ctx, r, opts)
	if err != nil {
		return Object{}, err
	}
	size := int64(-1)
	if opts.Size >= 0 {
		size = opts.Size
	}
	if size == 0 {
		// An empty PUT may not read its body at all: check the stream is
		// empty before the object exists, rather than take it back after.
		if err := m.finish(); err != nil {
			return Object{}, err
		}
	}
	// A known size up to partSize goes in one streamed PUT; anything else
	// as a multipart upload that minio-go aborts when the reader fails.
	var meta map[string]string
	if opts.Writer != "" {
		meta = map[string]string{writerMetadata: writerValue(opts.Writer)}
	}
	info, err := s.client.PutObject(ctx, s.cfg.bucket, s.object(key), m, size, minio.PutObjectOptions{
		ContentType:  opts.MediaType,
		UserMetadata: meta,
		PartSize:     partSize,
		NumThreads:   1,
	})
	if err != nil {
		// The meter's own verdict (too large, size mismatch, the source's
		// error) is clearer than how the HTTP client reports it, and keeps
		// errors.Is working.
		if m.err != nil {
			return Object{}, m.err
		}
		return Object{}, describe(err)
	}
	if err := m.finish(); err == nil && info.Size != m.n {
		m.err = fmt.Errorf("the store took %d bytes of %d", info.Size, m.n)
	}
	if m.err != nil {
		// Stored but wrong: take it back. Only a consumer that stops reading
		// before the end (minio-go trusting the size) could get here.
		if rerr := s.client.RemoveObject(context.WithoutCancel(ctx), s.cfg.bucket, s.object(key), minio.RemoveObjectOptions{}); rerr != nil {
			return Object{}, fmt.Errorf("%w (and removing the object failed: %v)", m.err, describe(rerr))
		}
		return Object{}, m.err
	}
	return m.object(key, s.URI(key)), nil
}

func (s *s3Store) Delete(ctx context.Context, prefix string) error {
	if err := validPrefix(prefix, false); err != nil {
		return fmt.Errorf("deleting %q in %s: %w", prefix, s.loc, err)
	}
	if err := s.deleteObjects(ctx, prefix); err != nil {
		return fmt.Errorf("deleting %q in %s: %w", prefix, s.loc, err)
	}
	// An upload a killed worker left open is invisible to ListObjects but
	// still stored (and billed): it goes with the rest.
	return s.DeleteIncomplete(ctx, prefix, nil)
}

// deleteObjects removes the objects under prefix, streaming the listing into
// batched removals.
func (s *s3Store) deleteObjects(ctx context.Context, prefix string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objects := s.client.ListObjects(ctx, s.cfg.bucket, minio.ListObjectsOptions{Prefix: s.object(prefix), Recursive: true})
	listErr := make(chan error, 1)
	toRemove := make(chan minio.ObjectInfo)
	go func() {
		defer close(toRemove)
		var err error
		defer func() { listErr <- err }()
		for o := range objects {
			if o.Err != nil {
				err = o.Err
				return
			}
			select {
			case toRemove <- o:
			case <-ctx.Done():
				return
			}
		}
	}()
	var errs []error
	for e := range s.client.RemoveObjects(ctx, s.cfg.bucket, toRemove, minio.RemoveObjectsOptions{}) {
		errs = append(errs, fmt.Errorf("%s: %w", e.ObjectName, describe(e.Err)))
		if len(errs) == 3 {
			cancel() // enough to say what is wrong
		}
	}
	cancel()
	if err := <-listErr; err != nil {
		errs = append(errs, describe(err))
	}
	return errors.Join(errs...)
}

func (s *s3Store) DeleteIncomplete(ctx context.Context, prefix string, match func(string) bool) error {
	if err := validPrefix(prefix, false); err != nil {
		return fmt.Errorf("sweeping %q in %s: %w", prefix, s.loc, err)
	}
	var errs []error
	for u := range s.client.ListIncompleteUploads(ctx, s.cfg.bucket, s.object(prefix), true) {
		if u.Err != nil {
			errs = append(errs, describe(u.Err))
			break
		}
		if match != nil && !match(s.key(u.Key)) {
			continue
		}
		if err := s.client.RemoveIncompleteUpload(ctx, s.cfg.bucket, u.Key); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.Key, describe(err)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sweeping %q in %s: %w", prefix, s.loc, err)
	}
	return nil
}

func (s *s3Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := validPrefix(prefix, true); err != nil {
		return nil, fmt.Errorf("listing %q in %s: %w", prefix, s.loc, err)
	}
	full := s.object(prefix)
	if prefix == "" && s.cfg.prefix != "" {
		full = s.cfg.prefix + "/"
	}
	var keys []string
	for o := range s.client.ListObjects(ctx, s.cfg.bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("listing %q in %s: %w", prefix, s.loc, describe(o.Err))
		}
		key := s.key(o.Key)
		if !strings.HasSuffix(key, "/") { // folder markers made by consoles
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	return keys, nil
}

func (s *s3Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := validKey(key); err != nil {
		return nil, fmt.Errorf("opening %s in %s: %w", key, s.loc, err)
	}
	o, err := s.client.GetObject(ctx, s.cfg.bucket, s.object(key), minio.GetObjectOptions{})
	if err == nil {
		// GetObject is lazy; Stat makes a missing object fail here, not on
		// the first Read.
		_, err = o.Stat()
		if err != nil {
			o.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s in %s: %w", key, s.loc, describe(err))
	}
	return o, nil
}

func (s *s3Store) Stat(ctx context.Context, key string) (Info, error) {
	if err := validKey(key); err != nil {
		return Info{}, fmt.Errorf("reading %s in %s: %w", key, s.loc, err)
	}
	o, err := s.client.StatObject(ctx, s.cfg.bucket, s.object(key), minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).StatusCode == http.StatusNotFound {
			err = ErrNotFound
		} else {
			err = describe(err)
		}
		return Info{}, fmt.Errorf("reading %s in %s: %w", key, s.loc, err)
	}
	return Info{Key: key, Size: o.Size, Modified: o.LastModified}, nil
}

func (s *s3Store) writer(ctx context.Context, key string) (string, error) {
	info, err := s.client.StatObject(ctx, s.cfg.bucket, s.object(key), minio.StatObjectOptions{})
	if err != nil {
		return "", fmt.Errorf("reading the writer of %s in %s: %w", key, s.loc, describe(err))
	}
	// minio-go gives user metadata without its x-amz-meta- prefix, with the
	// key in canonical header form.
	for k, v := range info.UserMetadata {
		if strings.EqualFold(k, writerMetadata) {
			return v, nil
		}
	}
	return "", nil
}

func (s *s3Store) Check(ctx context.Context) error {
	v, err := s.creds.GetWithContext(&credentials.CredContext{Client: http.DefaultClient, Context: ctx})
	if err == nil && v.SignerType.IsAnonymous() {
		err = errors.New("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the pod an IAM role")
	}
	if err == nil {
		var ok bool
		if ok, err = s.probe.BucketExists(ctx, s.cfg.bucket); err == nil && !ok {
			err = fmt.Errorf("bucket %q does not exist at %s: create it", s.cfg.bucket, s.client.EndpointURL().Host)
		} else if err != nil {
			err = describe(err)
		}
	}
	if err != nil {
		return fmt.Errorf("storage %s: %w", s.loc, err)
	}
	return nil
}

// describe adds what to do to the S3 errors whose code alone does not say.
func describe(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden":
		return fmt.Errorf("%w (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket's policy)", err)
	case "NoSuchBucket":
		return fmt.Errorf("%w (create the bucket %s)", err, minio.ToErrorResponse(err).BucketName)
	}
	return err
}
