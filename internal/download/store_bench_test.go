package download_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ytx.dev/ytx/internal/download"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/internal/storage/s3test"
)

// BenchmarkDownloadStore500MB is the worker's path for one stream, without
// ffmpeg: ranged download into scratch, then a streamed Put that hashes the
// bytes, into a directory and into a real S3 server (versitygw). MB/s counts
// the stream once; peak RSS is this process's, which holds no server.
func BenchmarkDownloadStore500MB(b *testing.B) {
	hc := startFakeProcess(b)
	u, size := streamURL(b, nil, hc, benchID, benchItag)
	srv := s3test.Start(b)
	bucket, err := srv.CreateBucket(context.Background(), "bench", "ytx")
	if err != nil {
		b.Fatal(err)
	}
	for _, env := range srv.Env() {
		k, v, _ := strings.Cut(env, "=")
		b.Setenv(k, v)
	}
	for _, backend := range []struct{ name, url string }{
		{"file", "file://" + b.TempDir()},
		{"s3", bucket},
	} {
		b.Run(backend.name, func(b *testing.B) {
			store, err := storage.Open(backend.url)
			if err != nil {
				b.Fatal(err)
			}
			d := &download.Downloader{HTTP: hc}
			measure(b, size, func(path string) error {
				if err := d.ToFile(context.Background(), u, size, path, nil); err != nil {
					return err
				}
				f, err := os.Open(path)
				if err != nil {
					return err
				}
				defer f.Close()
				_, err = store.Put(context.Background(), filepath.Join("ns", "name", "video.mp4"), f, storage.PutOptions{Size: size, MediaType: "video/mp4"})
				return err
			})
		})
	}
}
