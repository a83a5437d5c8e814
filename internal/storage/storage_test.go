package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sys/unix"

	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/internal/storage/s3test"
)

// srv is one versitygw for the package; each test makes its own buckets.
var srv *s3test.Server

func TestMain(m *testing.M) {
	var err error
	if srv, err = s3test.Launch(); err != nil {
		fmt.Fprintln(os.Stderr, "storage tests need a real S3 server:", err)
		os.Exit(1)
	}
	if err := srv.SetEnv(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	srv.Close()
	os.Exit(code)
}

// backend is a fresh, empty store and a way to look behind its back.
type backend struct {
	name  string
	store storage.Store
	// leftovers lists what the backend holds besides visible objects:
	// every directory entry under the root for files (temporary files,
	// empty directories), incomplete multipart uploads for S3.
	leftovers func(t *testing.T) []string
	// contentType returns the stored Content-Type ("" where there is none).
	contentType func(t *testing.T, key string) string
	// interrupt leaves what a worker killed in the middle of a Put of key
	// leaves: a temporary file, or an open multipart upload with a part.
	interrupt func(t *testing.T, key string)
	// rawWriter reads the writer recorded with key behind the store's back:
	// the file's extended attribute, the object's user metadata.
	rawWriter func(t *testing.T, key string) string
}

var bucketSeq atomic.Int64

// backends returns one of each: a directory, and a bucket with and without
// a prefix.
func backends(t *testing.T) []backend {
	t.Helper()
	root := t.TempDir()
	fst, err := storage.Open("file://" + root)
	if err != nil {
		t.Fatal(err)
	}
	bs := []backend{{
		name:  "file",
		store: fst,
		leftovers: func(t *testing.T) []string {
			var all []string
			filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err != nil {
					t.Fatal(err)
				}
				if p != root {
					rel, _ := filepath.Rel(root, p)
					all = append(all, rel)
				}
				return nil
			})
			return all
		},
		contentType: func(*testing.T, string) string { return "" },
		rawWriter: func(t *testing.T, key string) string {
			buf := make([]byte, 4096)
			n, err := unix.Getxattr(filepath.Join(root, key), "user.ytx.writer", buf)
			if errors.Is(err, unix.ENODATA) {
				return ""
			}
			if err != nil {
				t.Fatal(err)
			}
			return string(buf[:n])
		},
		interrupt: func(t *testing.T, key string) {
			dir := filepath.Join(root, filepath.Dir(key))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "."+filepath.Base(key)+".4711.tmp"), []byte("half"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
	}}
	for _, prefix := range []string{"media/x", ""} {
		bucket := fmt.Sprintf("bucket-%d", bucketSeq.Add(1))
		u, err := srv.CreateBucket(context.Background(), bucket, prefix)
		if err != nil {
			t.Fatal(err)
		}
		st, err := storage.Open(u)
		if err != nil {
			t.Fatal(err)
		}
		name := "s3"
		if prefix == "" {
			name = "s3-noprefix"
		}
		bs = append(bs, backend{
			name:  name,
			store: st,
			leftovers: func(t *testing.T) []string {
				var all []string
				for u := range srv.Client().ListIncompleteUploads(context.Background(), bucket, "", true) {
					if u.Err != nil {
						t.Fatal(u.Err)
					}
					all = append(all, "upload:"+u.Key)
				}
				return all
			},
			contentType: func(t *testing.T, key string) string {
				info, err := srv.Client().StatObject(context.Background(), bucket, strings.TrimPrefix(prefix+"/"+key, "/"), minio.StatObjectOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return info.ContentType
			},
			rawWriter: func(t *testing.T, key string) string {
				info, err := srv.Client().StatObject(context.Background(), bucket, strings.TrimPrefix(prefix+"/"+key, "/"), minio.StatObjectOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return info.Metadata.Get("X-Amz-Meta-Ytx-Writer")
			},
			interrupt: func(t *testing.T, key string) {
				core := minio.Core{Client: srv.Client()}
				object := strings.TrimPrefix(prefix+"/"+key, "/")
				id, err := core.NewMultipartUpload(context.Background(), bucket, object, minio.PutObjectOptions{})
				if err != nil {
					t.Fatal(err)
				}
				part := dataBytes(7, 5<<20)
				if _, err := core.PutObjectPart(context.Background(), bucket, object, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
					t.Fatal(err)
				}
			},
		})
	}
	return bs
}

// data is a deterministic stream of n pseudo-random bytes, never held in
// memory.
func data(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}), n)
}

func dataBytes(seed uint64, n int64) []byte {
	b, err := io.ReadAll(data(seed, n))
	if err != nil {
		panic(err)
	}
	return b
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func read(t *testing.T, st storage.Store, key string) []byte {
	t.Helper()
	rc, err := st.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func list(t *testing.T, st storage.Store, prefix string) []string {
	t.Helper()
	keys, err := st.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// assertEmpty checks that the store holds nothing at all: no object, no
// temporary file, no directory, no incomplete upload.
func assertEmpty(t *testing.T, b backend) {
	t.Helper()
	if keys := list(t, b.store, ""); len(keys) != 0 {
		t.Errorf("objects left behind: %q", keys)
	}
	if left := b.leftovers(t); len(left) != 0 {
		t.Errorf("left behind: %q", left)
	}
}

func TestPutOpenRoundTrip(t *testing.T) {
	ctx := context.Background()
	const big = 16<<20 + 3 // one byte more than a part: a multipart upload
	for _, b := range backends(t) {
		for _, size := range []int64{0, 1, 1000, big} {
			for _, known := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/size=%d/known=%v", b.name, size, known), func(t *testing.T) {
					want := dataBytes(uint64(size), size)
					key := fmt.Sprintf("ns/name-%d-%v/audio.m4a", size, known)
					opts := storage.PutOptions{Size: -1, MediaType: "audio/mp4"}
					if known {
						opts.Size = size
					}
					obj, err := b.store.Put(ctx, key, bytes.NewReader(want), opts)
					if err != nil {
						t.Fatal(err)
					}
					wantObj := storage.Object{Key: key, URI: b.store.URI(key), Size: size, SHA256: hexSHA(want)}
					if obj != wantObj {
						t.Errorf("Put = %+v, want %+v", obj, wantObj)
					}
					if got := read(t, b.store, key); !bytes.Equal(got, want) {
						t.Errorf("Open read %d bytes (sha256 %s), want %d (%s)", len(got), hexSHA(got), size, hexSHA(want))
					}
					if ct := b.contentType(t, key); ct != "" && ct != "audio/mp4" {
						t.Errorf("Content-Type = %q, want audio/mp4", ct)
					}
				})
			}
		}
	}
}

func TestPutReplaces(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			for _, s := range []string{"first version, longer", "second"} {
				if _, err := b.store.Put(ctx, "ns/n/info.json", strings.NewReader(s), storage.PutOptions{Size: int64(len(s))}); err != nil {
					t.Fatal(err)
				}
			}
			if got := string(read(t, b.store, "ns/n/info.json")); got != "second" {
				t.Errorf("got %q, want the second version", got)
			}
		})
	}
}

// TestPutRecordsWriter: the writer given to Put is kept with the object,
// where the store keeps metadata (not in the bytes), replaced with the
// object, and read back by storage.Writer; the bytes are unchanged.
func TestPutRecordsWriter(t *testing.T) {
	ctx := context.Background()
	const big = 16<<20 + 3 // a multipart upload
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			check := func(key, want string) {
				t.Helper()
				got, err := storage.Writer(ctx, b.store, key)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("Writer(%s) = %q, want %q", key, got, want)
				}
				if raw := b.rawWriter(t, key); raw != want {
					t.Errorf("%s: stored writer %q, want %q", key, raw, want)
				}
			}
			put := func(key string, body []byte, size int64, writer string) {
				t.Helper()
				obj, err := b.store.Put(ctx, key, bytes.NewReader(body), storage.PutOptions{Size: size, MediaType: "audio/mp4", Writer: writer})
				if err != nil {
					t.Fatal(err)
				}
				if obj.SHA256 != hexSHA(body) || !bytes.Equal(read(t, b.store, key), body) {
					t.Errorf("%s: the bytes changed on the way", key)
				}
			}
			small, large := []byte(`{"id":"x"}`), dataBytes(3, big)

			put("ns/a/info.json", small, int64(len(small)), "uid-1/1/1 worker-a")
			check("ns/a/info.json", "uid-1/1/1 worker-a")
			put("ns/a/audio.m4a", large, -1, "uid-1/1/1 worker-a")
			check("ns/a/audio.m4a", "uid-1/1/1 worker-a")

			// A later Put replaces the writer with the bytes, also when it
			// records none.
			put("ns/a/info.json", small, int64(len(small)), "uid-1/1/2 worker-b")
			check("ns/a/info.json", "uid-1/1/2 worker-b")
			put("ns/a/info.json", small, int64(len(small)), "")
			check("ns/a/info.json", "")

			// Outside printable ASCII, escaped; '%' too, so the escaping
			// reads back one way. Bounded.
			put("ns/b/info.json", small, int64(len(small)), "uid/1/1 wörker\n%")
			check("ns/b/info.json", "uid/1/1 w%C3%B6rker%0A%25")
			put("ns/b/thumbnail.jpg", small, int64(len(small)), strings.Repeat("w", 2*storage.MaxWriterLen))
			check("ns/b/thumbnail.jpg", strings.Repeat("w", storage.MaxWriterLen))

			if w, err := storage.Writer(ctx, b.store, "ns/missing/info.json"); err == nil {
				t.Errorf("Writer of a missing object = %q, want an error", w)
			}
			if _, err := storage.Writer(ctx, b.store, "../escape"); err == nil {
				t.Error("Writer of a bad key: want an error")
			}
		})
	}
}

// TestNoPartialObject holds a Put in the middle of its stream and looks at
// the store: the object must not be there until the stream has ended.
func TestNoPartialObject(t *testing.T) {
	ctx := context.Background()
	const half = 1 << 20
	for _, b := range backends(t) {
		for _, known := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/known=%v", b.name, known), func(t *testing.T) {
				want := dataBytes(7, 2*half)
				pr, pw := io.Pipe()
				opts := storage.PutOptions{Size: -1}
				if known {
					opts.Size = 2 * half
				}
				type result struct {
					obj storage.Object
					err error
				}
				done := make(chan result, 1)
				go func() {
					obj, err := b.store.Put(ctx, "ns/name/video.mp4", pr, opts)
					pr.CloseWithError(err)
					done <- result{obj, err}
				}()
				if _, err := pw.Write(want[:half]); err != nil {
					t.Fatal(err)
				}
				// The first half has been consumed; give it a moment to
				// reach the store.
				time.Sleep(100 * time.Millisecond)
				if keys := list(t, b.store, ""); len(keys) != 0 {
					t.Errorf("List during Put = %q, want nothing", keys)
				}
				if rc, err := b.store.Open(ctx, "ns/name/video.mp4"); err == nil {
					rc.Close()
					t.Error("Open during Put succeeded")
				}
				if _, err := pw.Write(want[half:]); err != nil {
					t.Fatal(err)
				}
				pw.Close()
				r := <-done
				if r.err != nil {
					t.Fatal(r.err)
				}
				if got := read(t, b.store, "ns/name/video.mp4"); !bytes.Equal(got, want) {
					t.Errorf("read %d bytes, want %d", len(got), len(want))
				}
				if keys := list(t, b.store, ""); !slices.Equal(keys, []string{"ns/name/video.mp4"}) {
					t.Errorf("List = %q", keys)
				}
				if err := b.store.Delete(ctx, "ns/name/"); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// failingReader gives n bytes, then an error, as a download that breaks.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestPutReaderFails(t *testing.T) {
	ctx := context.Background()
	errBroken := errors.New("download broke")
	for _, b := range backends(t) {
		for _, size := range []int64{-1, 1 << 20, 20 << 20} {
			t.Run(fmt.Sprintf("%s/size=%d", b.name, size), func(t *testing.T) {
				n := size / 2
				if size < 0 {
					n = 300 << 10
				}
				r := &failingReader{r: data(1, n), err: errBroken}
				_, err := b.store.Put(ctx, "ns/name/audio.opus", r, storage.PutOptions{Size: size})
				if !errors.Is(err, errBroken) {
					t.Fatalf("Put error = %v, want one matching %v", err, errBroken)
				}
				if !strings.Contains(err.Error(), "ns/name/audio.opus") {
					t.Errorf("error %q does not name the key", err)
				}
				assertEmpty(t, b)

				// A failed replacement leaves the previous object whole.
				if _, err := b.store.Put(ctx, "ns/name/audio.opus", strings.NewReader("old"), storage.PutOptions{Size: 3}); err != nil {
					t.Fatal(err)
				}
				r = &failingReader{r: data(1, n), err: errBroken}
				if _, err := b.store.Put(ctx, "ns/name/audio.opus", r, storage.PutOptions{Size: size}); !errors.Is(err, errBroken) {
					t.Fatalf("Put error = %v, want %v", err, errBroken)
				}
				if got := string(read(t, b.store, "ns/name/audio.opus")); got != "old" {
					t.Errorf("after a failed replacement: %q, want the old object", got)
				}
				if err := b.store.Delete(ctx, "ns/"); err != nil {
					t.Fatal(err)
				}
				assertEmpty(t, b)
			})
		}
	}
}

func TestPutContextCancelled(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			pr, pw := io.Pipe()
			go func() {
				pw.Write(make([]byte, 64<<10))
				cancel()
				pw.Write(make([]byte, 64<<10)) // unblocks a reader that missed the cancel
				pw.Close()
			}()
			_, err := b.store.Put(ctx, "ns/name/a", pr, storage.PutOptions{Size: -1})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Put error = %v, want context.Canceled", err)
			}
			assertEmpty(t, b)
		})
	}
}

func TestPutSizeMismatch(t *testing.T) {
	ctx := context.Background()
	cases := []struct{ expect, actual int64 }{
		{100, 50},
		{100, 150},
		{0, 10},
		{10, 0},
		{16<<20 + 10, 16<<20 + 20}, // multipart with a known size
	}
	for _, b := range backends(t) {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%d-got-%d", b.name, c.expect, c.actual), func(t *testing.T) {
				_, err := b.store.Put(ctx, "ns/name/thumbnail.jpg", data(2, c.actual), storage.PutOptions{Size: c.expect})
				if err == nil {
					t.Fatal("Put succeeded")
				}
				if errors.Is(err, storage.ErrTooLarge) || !strings.Contains(err.Error(), "size mismatch") || !strings.Contains(err.Error(), fmt.Sprint(c.expect)) {
					t.Errorf("error %q should be a size mismatch naming %d", err, c.expect)
				}
				assertEmpty(t, b)
			})
		}
	}
}

func TestPutMaxBytes(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name            string
		max, size, data int64
		ok              bool
	}{
		{"stream over the cap", 1000, -1, 1500, false},
		{"declared over the cap", 1000, 1500, 1500, false},
		{"exactly the cap", 1000, -1, 1000, true},
		{"exactly the cap, known size", 1000, 1000, 1000, true},
		{"over the cap after a whole part", 16<<20 + 5, -1, 20 << 20, false},
	}
	for _, b := range backends(t) {
		for _, c := range cases {
			t.Run(b.name+"/"+c.name, func(t *testing.T) {
				obj, err := b.store.Put(ctx, "ns/name/video.mp4", data(3, c.data), storage.PutOptions{Size: c.size, MaxBytes: c.max})
				if c.ok {
					if err != nil || obj.Size != c.data {
						t.Fatalf("Put = %+v, %v", obj, err)
					}
					if err := b.store.Delete(ctx, "ns/"); err != nil {
						t.Fatal(err)
					}
					return
				}
				if !errors.Is(err, storage.ErrTooLarge) {
					t.Fatalf("Put error = %v, want ErrTooLarge", err)
				}
				if !strings.Contains(err.Error(), fmt.Sprint(c.max)) || !strings.Contains(err.Error(), "ns/name/video.mp4") {
					t.Errorf("error %q should name the cap %d and the key", err, c.max)
				}
				assertEmpty(t, b)
			})
		}
	}
}

func TestDeleteAndList(t *testing.T) {
	ctx := context.Background()
	keys := []string{
		"ns/name/video.mp4", "ns/name/audio.m4a", "ns/name/sub/info.json",
		"ns/name-2/audio.m4a", "ns/other/audio.m4a", "ns2/name/audio.m4a", "top",
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			for _, k := range keys {
				if _, err := b.store.Put(ctx, k, strings.NewReader(k), storage.PutOptions{Size: int64(len(k))}); err != nil {
					t.Fatal(err)
				}
			}
			sorted := slices.Sorted(slices.Values(keys))
			for _, c := range []struct {
				prefix string
				want   []string
			}{
				{"", sorted},
				{"ns/name/", []string{"ns/name/audio.m4a", "ns/name/sub/info.json", "ns/name/video.mp4"}},
				{"ns/name", []string{"ns/name-2/audio.m4a", "ns/name/audio.m4a", "ns/name/sub/info.json", "ns/name/video.mp4"}},
				{"ns/name/a", []string{"ns/name/audio.m4a"}},
				{"ns/nothing/", nil},
				{"zzz", nil},
			} {
				if got := list(t, b.store, c.prefix); !slices.Equal(got, c.want) {
					t.Errorf("List(%q) = %q, want %q", c.prefix, got, c.want)
				}
			}

			if err := b.store.Delete(ctx, "ns/name/"); err != nil {
				t.Fatal(err)
			}
			want := []string{"ns/name-2/audio.m4a", "ns/other/audio.m4a", "ns2/name/audio.m4a", "top"}
			if got := list(t, b.store, ""); !slices.Equal(got, want) {
				t.Errorf("after Delete(ns/name/): %q, want %q", got, want)
			}
			if err := b.store.Delete(ctx, "ns/name/"); err != nil {
				t.Errorf("deleting nothing: %v", err)
			}
			for _, p := range []string{"ns/", "ns2/", "top"} {
				if err := b.store.Delete(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			// The file backend removes the emptied directories, not the root.
			assertEmpty(t, b)
			if err := b.store.Check(ctx); err != nil {
				t.Errorf("Check after deleting everything: %v", err)
			}
		})
	}
}

func TestDeleteRemovesStaleTemporaryFiles(t *testing.T) {
	root := t.TempDir()
	st, err := storage.Open("file://" + root)
	if err != nil {
		t.Fatal(err)
	}
	// What a worker killed in the middle of a Put leaves.
	dir := filepath.Join(root, "ns", "name")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, ".audio.m4a.123.tmp"), []byte("half"), 0o600)
	if keys := list(t, st, ""); len(keys) != 0 {
		t.Errorf("List shows temporary files: %q", keys)
	}
	if err := st.Delete(context.Background(), "ns/name/"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "ns")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ns/ should be gone: %v", err)
	}
	if _, err := os.Stat(root); err != nil {
		t.Errorf("the root must stay: %v", err)
	}
}

// A worker killed mid-upload leaves what List does not show; the next
// attempt's DeleteIncomplete sweeps it under its own prefix only, and
// Delete takes it along too.
func TestDeleteIncompleteSweepsInterruptedPuts(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			if _, err := b.store.Put(ctx, "ns/name/info.json", strings.NewReader("{}"), storage.PutOptions{Size: 2}); err != nil {
				t.Fatal(err)
			}
			b.interrupt(t, "ns/name/audio.m4a")
			b.interrupt(t, "ns/name-2/audio.m4a")
			if got := b.leftovers(t); !slices.ContainsFunc(got, isLeftover) {
				t.Fatalf("the interrupted Put left nothing to sweep: %q", got)
			}
			if err := b.store.DeleteIncomplete(ctx, "ns/name/", nil); err != nil {
				t.Fatal(err)
			}
			if keys := list(t, b.store, ""); !slices.Equal(keys, []string{"ns/name/info.json"}) {
				t.Errorf("objects after the sweep: %q", keys)
			}
			left := slices.DeleteFunc(b.leftovers(t), func(s string) bool { return !isLeftover(s) })
			if len(left) != 1 || !strings.Contains(left[0], "name-2") {
				t.Errorf("want only ns/name-2's leftover to stay, have %q", left)
			}
			if err := b.store.Delete(ctx, "ns/name-2/"); err != nil {
				t.Fatal(err)
			}
			if err := b.store.Delete(ctx, "ns/name/"); err != nil {
				t.Fatal(err)
			}
			assertEmpty(t, b)
		})
	}
}

// isLeftover tells an interrupted Put's remains among backend.leftovers.
func isLeftover(s string) bool {
	return strings.HasPrefix(s, "upload:") || strings.HasSuffix(s, ".tmp")
}

func TestBadKeys(t *testing.T) {
	ctx := context.Background()
	bad := []string{"", "/ns/name/a", "ns//a", "ns/name/", "../a", "ns/../a", "ns/./a", "..", ".", "ns/.hidden", "a\x00b"}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			for _, key := range bad {
				if _, err := b.store.Put(ctx, key, strings.NewReader("x"), storage.PutOptions{Size: 1}); err == nil || !strings.Contains(err.Error(), "key") {
					t.Errorf("Put(%q) error = %v, want a key error", key, err)
				}
				if rc, err := b.store.Open(ctx, key); err == nil {
					rc.Close()
					t.Errorf("Open(%q) succeeded", key)
				}
			}
			for _, prefix := range []string{"", "/ns", "../", "ns/../x/", "ns//"} {
				if err := b.store.Delete(ctx, prefix); err == nil {
					t.Errorf("Delete(%q) succeeded", prefix)
				}
			}
			assertEmpty(t, b)
		})
	}
}

func TestOpenMissing(t *testing.T) {
	for _, b := range backends(t) {
		if rc, err := b.store.Open(context.Background(), "ns/name/none"); err == nil {
			rc.Close()
			t.Errorf("%s: Open of a missing key succeeded", b.name)
		} else if !strings.Contains(err.Error(), "ns/name/none") {
			t.Errorf("%s: error %q does not name the key", b.name, err)
		}
	}
}

func TestOpenURL(t *testing.T) {
	good := []struct{ url, uri string }{
		{"file:///data/ytx", "file:///data/ytx/ns/name/audio.m4a"},
		{"file:///data/ytx/", "file:///data/ytx/ns/name/audio.m4a"},
		{"file:///", "file:///ns/name/audio.m4a"},
		{"s3://media", "s3://media/ns/name/audio.m4a"},
		{"s3://media/", "s3://media/ns/name/audio.m4a"},
		{"s3://media/ytx/prod/", "s3://media/ytx/prod/ns/name/audio.m4a"},
		{"s3://media/ytx?region=eu-west-1", "s3://media/ytx/ns/name/audio.m4a"},
		{"s3://media.example/ytx?endpoint=minio.storage:9000&insecure=true&region=us-east-1", "s3://media.example/ytx/ns/name/audio.m4a"},
		{"s3://media?endpoint=[::1]:9000&insecure=false", "s3://media/ns/name/audio.m4a"},
	}
	for _, c := range good {
		st, err := storage.Open(c.url)
		if err != nil {
			t.Errorf("Open(%q): %v", c.url, err)
			continue
		}
		if got := st.URI("ns/name/audio.m4a"); got != c.uri {
			t.Errorf("Open(%q).URI = %q, want %q", c.url, got, c.uri)
		}
	}

	bad := []struct{ url, says string }{
		{"", "empty"},
		{"/data/ytx", "not a URL"},
		{"ftp://host/x", `unsupported scheme "ftp"`},
		{"file://data/ytx", "absolute"},
		{"file:data/ytx", "absolute"},
		{"file:///data?x=1", "no user or query"},
		{"s3://", "missing bucket"},
		{"s3:///prefix", "missing bucket"},
		{"s3://Bad_Bucket/x", "Bad_Bucket"},
		{"s3://media/a/../b", `".."`},
		{"s3://media/a//b", "empty segment"},
		{"s3://media?endpoint=http://minio:9000", "host:port"},
		{"s3://media?endpoint=minio", "host:port"},
		{"s3://media?insecure=maybe", "true or false"},
		{"s3://media?access_key=AKIA", `unknown parameter "access_key"`},
		{"s3://AKIA:hunter2@media/x", "credentials do not belong in the URL"},
		{"s3://media/x#frag", "fragment"},
		{"s3://media/%zz", "not a URL"},
	}
	for _, c := range bad {
		_, err := storage.Open(c.url)
		if err == nil {
			t.Errorf("Open(%q) succeeded", c.url)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "--storage ") || !strings.Contains(msg, c.says) ||
			!strings.Contains(msg, "file:///absolute/dir or s3://bucket/prefix?endpoint=host:port") || strings.Contains(msg, "\n") {
			t.Errorf("Open(%q) error %q: want one line naming --storage, saying %q and showing a valid value", c.url, msg, c.says)
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("Open(%q) error %q shows the password", c.url, msg)
		}
	}
}

func TestCheckFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, _ := storage.Open("file://" + dir)
	if err := st.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Check left %v behind", entries)
	}

	st, _ = storage.Open("file://" + dir + "/missing")
	if err := st.Check(ctx); err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), dir+"/missing") {
		t.Errorf("Check of a missing dir: %v", err)
	}
	// Put must not create the root: it would hide a missing volume mount.
	if _, err := st.Put(ctx, "ns/n/a", strings.NewReader("x"), storage.PutOptions{Size: 1}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Put into a missing dir: %v", err)
	}

	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	st, _ = storage.Open("file://" + dir + "/file")
	if err := st.Check(ctx); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Check of a file: %v", err)
	}

	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o555)
		st, _ = storage.Open("file://" + ro)
		if err := st.Check(ctx); err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("Check of a read-only dir: %v", err)
		}
	}
}

func TestCheckS3(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	own := s3test.Start(t)
	good := own.Bucket(t, "media", "ytx") // sets this test's credentials
	st, err := storage.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}

	missing := strings.Replace(good, "s3://media/", "s3://nosuchbucket/", 1)
	st, _ = storage.Open(missing)
	if err := st.Check(ctx); err == nil || !strings.Contains(err.Error(), `bucket "nosuchbucket" does not exist`) {
		t.Errorf("Check of a missing bucket: %v", err)
	}

	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	st, _ = storage.Open(good)
	if err := st.Check(ctx); err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("Check with a wrong secret: %v", err)
	}
	if _, err := st.Put(ctx, "ns/n/a", strings.NewReader("x"), storage.PutOptions{Size: 1}); err == nil || !strings.Contains(err.Error(), "storing ns/n/a in s3://media/ytx: ") {
		t.Errorf("Put with a wrong secret: %v", err)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	st, _ = storage.Open(good)
	// "no S3 credentials", or on a machine with an IAM role a refusal by
	// versitygw: both name the variables to set.
	if err := st.Check(ctx); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("Check without credentials: %v", err)
	}

	own.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", own.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", own.SecretKey)
	st, _ = storage.Open(good)
	start := time.Now()
	if err := st.Check(ctx); err == nil || !strings.Contains(err.Error(), own.Endpoint) {
		t.Errorf("Check with the server down: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Check with the server down took %v: a readiness probe needs the answer at once", d)
	}
}

// TestLargePutBoundedMemory streams 200 MiB through Put: memory must not
// grow with the object. It takes about 10 s on two cores, so -short skips it.
func TestLargePutBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 600 MiB through the stores (~10 s)")
	}
	const size = 200 << 20
	ctx := context.Background()
	h := sha256.New()
	io.Copy(h, data(42, size))
	want := hex.EncodeToString(h.Sum(nil))

	bs := backends(t)
	for _, c := range []struct {
		b     backend
		known bool
	}{
		{bs[0], false}, // the file backend has one path, whether the size is known or not
		{bs[1], false}, // S3: multipart upload of unknown length
		{bs[1], true},  // S3: multipart upload of known length, another code path in minio-go
	} {
		b, known := c.b, c.known
		t.Run(fmt.Sprintf("%s/known=%v", b.name, known), func(t *testing.T) {
			opts := storage.PutOptions{Size: -1}
			if known {
				opts.Size = size
			}
			start := time.Now()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			obj, err := b.store.Put(ctx, "ns/name/video.mp4", data(42, size), opts)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if obj.Size != size || obj.SHA256 != want {
				t.Errorf("Put = %+v, want size %d sha256 %s", obj, size, want)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			inuse := int64(after.HeapInuse) - int64(before.HeapInuse)
			t.Logf("%v for %d MiB; allocated %.1f MiB, heap in use %+.1f MiB", time.Since(start).Round(time.Millisecond), size>>20, float64(alloc)/(1<<20), float64(inuse)/(1<<20))
			if alloc > 64<<20 || inuse > 48<<20 {
				t.Errorf("memory grew with the object: allocated %d MiB, heap in use %+d MiB", alloc>>20, inuse>>20)
			}
			rc, err := b.store.Open(ctx, "ns/name/video.mp4")
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			h := sha256.New()
			if n, err := io.Copy(h, rc); err != nil || n != size || hex.EncodeToString(h.Sum(nil)) != want {
				t.Errorf("stored object: %d bytes, %v, sha256 %x", n, err, h.Sum(nil))
			}
		})
	}
}
