package bench

import (
	"context"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/internal/youtube/fake/fakeproc"
	"ytx.dev/ytx/internal/ytdlp"
)

var resolveColumns = []string{"resolver", "version", "cold", "warm (median)", "warm (slowest)", "peak RSS of a run", "requests to YouTube"}

// resolveRuns is how many warm runs each resolver makes.
const resolveRuns = 7

// BenchmarkResolve reads one video with each resolver, as a worker does, from
// the fake YouTube in a child process: kkdai in this process; yt-dlp as a
// subprocess through the worker's egress proxy. Cold is the first read of a
// new resolver (new connections; for yt-dlp its first run after the version
// probe); warm the median of the runs after it.
func BenchmarkResolve(b *testing.B) {
	yt := fakeproc.Start(b, "TestFakeYouTubeCatalogueProcess")
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", yt.Addr)
	}
	opts := youtube.HTTPOptions{DialContext: dial, RootCAs: yt.Pool}
	egress, err := youtube.StartEgress(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { egress.Close() })
	y := ytdlp.New(context.Background(), ytdlp.Options{Egress: egress, Env: []string{"SSL_CERT_FILE=" + yt.CAFile}})
	if err := y.Check(); err != nil {
		b.Fatal(err)
	}
	for _, r := range []resolver.Resolver{youtube.KKDAI{}, y} {
		before := childPeakRSS()
		page, media := youtube.NewClients(opts).For(nil)
		req := resolver.Request{VideoID: fake.RickrollID, HTTP: page, Media: media, Scratch: b.TempDir()}
		read := func() time.Duration {
			start := time.Now()
			v, err := r.Resolve(context.Background(), req)
			if err != nil {
				b.Fatalf("%s: %v", r.Name(), err)
			}
			if len(v.Formats) == 0 {
				b.Fatalf("%s read no format", r.Name())
			}
			return time.Since(start)
		}
		cold := read()
		var warm []time.Duration
		for range resolveRuns {
			warm = append(warm, read())
		}
		slices.Sort(warm)
		peak := "— (in the worker)"
		if r.Name() == resolver.YTDLP {
			peak = cell(mib(max(childPeakRSS(), before))) + " MiB"
		}
		b.ReportMetric(warm[len(warm)/2].Seconds(), r.Name()+"-warm-s")
		results.row(secResolvers, resolveColumns, r.Name(), r.Version(), cold.Round(time.Millisecond), warm[len(warm)/2].Round(time.Millisecond),
			warm[len(warm)-1].Round(time.Millisecond), peak, requestsPerRead(r.Name()))
	}
	results.note(secResolvers, "One video (the fake's Rick Astley, 9 formats) read %d+1 times by each resolver, from the fake YouTube in a child process over TLS. "+
		"kkdai runs in this process (like the worker) and asks the home page, the player API and the watch page; cold is its first read, on new connections. "+
		"yt-dlp runs as the worker runs it (`yt-dlp -J` with ytx's flags, through the egress proxy) with no JavaScript runtime (so with its VISIONOS client): a Python process per read, whose start is most of its time. "+
		"Peak RSS is the largest resident size of a yt-dlp process (getrusage of the children). "+
		"A fallback from kkdai to yt-dlp costs one kkdai read plus one refused media request, then a yt-dlp read.", resolveRuns)
}

// TestFakeYouTubeCatalogueProcess is not a test: started by
// fakeproc.Start, it serves the fake's standard catalogue from a child
// process, for BenchmarkResolve.
func TestFakeYouTubeCatalogueProcess(t *testing.T) {
	fakeproc.Serve(t, fake.DefaultVideos()...)
}

// requestsPerRead is what each resolver asks YouTube for one video, as the
// fake's request log shows it (fake_test checks kkdai's; yt-dlp's comes from
// watching it against the fake).
func requestsPerRead(name string) string {
	if name == resolver.KKDAI {
		return "home page, player, watch page"
	}
	return "watch page, player"
}

// childPeakRSS is the largest resident size of any child process this
// process has waited for, in bytes.
func childPeakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return ru.Maxrss << 10
}
