package download_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kkdai "github.com/kkdai/youtube/v2"

	"ytx.dev/ytx/internal/download"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/internal/youtube/fake/fakeproc"
)

const (
	benchID   = "b3nchM4rk50"
	benchItag = 137
	benchSize = 500_000_000
)

func benchVideo() fake.Video {
	return fake.Video{
		ID: benchID, Title: "500 MB", Author: "ytx", ChannelID: "UCytx", LengthSeconds: 3600,
		PublishDate: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Formats: []fake.Format{{
			Itag: benchItag, MimeType: `video/mp4; codecs="avc1.640028"`, Bitrate: 1_100_000,
			Width: 1920, Height: 1080, FPS: 25, QualityLabel: "1080p",
			Media: fake.Synthetic(fake.Seed(benchID), benchSize),
		}},
	}
}

// BenchmarkDownload500MB downloads a 500 MB stream from the fake YouTube
// over TLS (HTTP/2) through ToFile with the default Options, and reports
// throughput, the process's peak RSS (VmHWM, reset before the loop through
// /proc/self/clear_refs) and its peak heap. The fake runs in a child process
// (this test binary again, see TestFakeYouTubeProcess and fakeproc), so that both peaks
// are the downloader's alone, not the server's buffers too.
func BenchmarkDownload500MB(b *testing.B) {
	hc := startFakeProcess(b)
	u, size := streamURL(b, nil, hc, benchID, benchItag)
	benchDownload(b, hc, u, size, download.Options{})
}

// BenchmarkChunkMatrix is BenchmarkDownload500MB for chunk sizes × parallel
// chunks, to pick the defaults. Run it with
//
//	go test -run '^$' -bench ChunkMatrix -benchtime 1x ./internal/download/
func BenchmarkChunkMatrix(b *testing.B) {
	hc := startFakeProcess(b)
	u, size := streamURL(b, nil, hc, benchID, benchItag)
	for _, chunk := range []int64{1 << 20, 2 << 20, 4 << 20, 8 << 20} {
		for _, par := range []int{2, 4, 8} {
			b.Run(fmt.Sprintf("chunk=%dMiB/parallel=%d", chunk>>20, par), func(b *testing.B) {
				benchDownload(b, hc, u, size, download.Options{ChunkSize: chunk, Parallel: par})
			})
		}
	}
}

func benchDownload(b *testing.B, hc *http.Client, u string, size int64, opts download.Options) {
	d := &download.Downloader{HTTP: hc, Options: opts}
	measure(b, size, func(path string) error {
		return d.ToFile(context.Background(), u, size, path, nil)
	})
}

// BenchmarkKkdaiReader500MB is the reference: the same stream read through
// kkdai's own GetStream (10 MiB chunks, 10 in parallel, each whole in
// memory) and copied to a file.
func BenchmarkKkdaiReader500MB(b *testing.B) {
	hc := startFakeProcess(b)
	c := &kkdai.Client{HTTPClient: hc}
	v, err := c.GetVideoContext(context.Background(), benchID)
	if err != nil {
		b.Fatal(err)
	}
	format := v.Formats.Itag(benchItag)[0]
	measure(b, format.ContentLength, func(path string) error {
		r, _, err := c.GetStreamContext(context.Background(), v, &format)
		if err != nil {
			return err
		}
		defer r.Close()
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}

// measure runs download b.N times into a temporary file of size bytes and
// reports the process's peak RSS and peak heap over the runs.
func measure(b *testing.B, size int64, download func(path string) error) {
	path := filepath.Join(b.TempDir(), "out.mp4")

	debug.FreeOSMemory() // so that the high-water mark starts from what is in use
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the RSS high-water mark (%v): peak-RSS-MB is since the process started", err)
	}
	baseRSS := procStatus(b, "VmRSS")
	heap := startHeapSampler()

	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if err := download(path); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()

	peakHeap := heap.stop()
	hwm := procStatus(b, "VmHWM")
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != size {
		b.Fatalf("file: %v, want %d bytes", err, size)
	}
	os.Remove(path)
	b.ReportMetric(float64(hwm)/1e6, "peak-RSS-MB")
	b.ReportMetric(float64(baseRSS)/1e6, "base-RSS-MB")
	b.ReportMetric(float64(peakHeap)/1e6, "peak-heap-MB")
}

// TestFakeYouTubeProcess is not a test: started by fakeproc.Start, it
// serves benchVideo from a child process.
func TestFakeYouTubeProcess(t *testing.T) { fakeproc.Serve(t, benchVideo()) }

// startFakeProcess runs the fake YouTube in a child process and returns a
// client that reaches it.
func startFakeProcess(b *testing.B) *http.Client {
	return fakeproc.Start(b, "TestFakeYouTubeProcess").HTTPClient(b)
}

// procStatus reads a "kB" field of /proc/self/status, in bytes.
func procStatus(b *testing.B, field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		return kb << 10
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// heapSampler tracks the peak of the heap's object bytes (live and not yet
// swept), sampling runtime/metrics every millisecond.
type heapSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{done: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			h.peak = max(h.peak, s[0].Value.Uint64())
			select {
			case <-h.done:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) stop() uint64 {
	close(h.done)
	h.wg.Wait()
	return h.peak
}
