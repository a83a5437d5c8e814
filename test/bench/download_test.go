package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ytx.dev/ytx/internal/download"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/internal/youtube/fake/fakeproc"
)

// The fake YouTube's streams for the download benchmark: the 500 MB one
// that is measured, a 2 GB one that shows whether the worker's memory
// grows with the file, and a tiny one that measures each program's fixed
// cost (start-up, reading info.json, connecting, the TLS handshake).
var (
	stream500MB = dlStream{id: "b3nchM4rk50", size: 500_000_000}
	stream2GB   = dlStream{id: "b3nchM4rk2G", size: 2_000_000_000}
	streamTiny  = dlStream{id: "b3nchT1ny00", size: 1_000}
)

// downloadRounds: each program downloads the stream this many times,
// taking turns, and the fastest round counts, so that a burst of load
// from other programs on the machine does not decide the figure.
const downloadRounds = 3

type dlStream struct {
	id   string
	size int64
}

const dlItag = 137

func (s dlStream) video() fake.Video {
	return fake.Video{
		ID: s.id, Title: fmt.Sprintf("%d bytes", s.size), Author: "ytx", ChannelID: "UCytx", LengthSeconds: 3600,
		PublishDate: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Formats: []fake.Format{{
			Itag: dlItag, MimeType: `video/mp4; codecs="avc1.640028"`, Bitrate: 1_100_000,
			Width: 1920, Height: 1080, FPS: 25, QualityLabel: "1080p",
			Media: fake.Synthetic(fake.Seed(s.id), s.size),
		}},
	}
}

// TestFakeYouTubeProcess is not a test: started by fakeproc.Start, it
// serves the download benchmark's streams from a child process, so that
// the fake's CPU and memory are not the downloaders' and every downloader
// reaches it the same way, through its CONNECT proxy.
func TestFakeYouTubeProcess(t *testing.T) {
	fakeproc.Serve(t, stream500MB.video(), stream2GB.video(), streamTiny.video())
}

// resolved is a stream ready to fetch: its signed URL, and an info.json
// for yt-dlp.
type resolved struct {
	dlStream
	url, infoJSON string
}

// resolve asks the fake for the stream's signed URL as a worker does, and
// writes the info.json that ytx writes for the video, with the URL of the
// one format yt-dlp is to fetch (ytx's info.json lists formats without
// their URLs).
func resolve(b *testing.B, hc *http.Client, s dlStream, dir string) resolved {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := youtube.NewClient(hc)
	v, err := c.Video(ctx, s.id)
	if err != nil {
		b.Fatal(err)
	}
	f := v.Formats.Itag(dlItag)[0]
	u, err := c.StreamURL(ctx, v, &f)
	if err != nil {
		b.Fatal(err)
	}
	info := youtube.NewInfo(youtube.FromKKDAI(v))
	raw, err := json.Marshal(info)
	if err != nil {
		b.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		b.Fatal(err)
	}
	for _, f := range doc["formats"].([]any) {
		if f := f.(map[string]any); f["format_id"] == strconv.Itoa(dlItag) {
			f["url"], f["protocol"] = wholeRange(u, s.size), "https"
		}
	}
	path := filepath.Join(dir, s.id+".info.json")
	if raw, err = json.Marshal(doc); err == nil {
		err = os.WriteFile(path, raw, 0o644)
	}
	if err != nil {
		b.Fatal(err)
	}
	return resolved{dlStream: s, url: u, infoJSON: path}
}

// wholeRange asks for the whole stream with googlevideo's range parameter,
// in one request: the fake then serves yt-dlp and curl by the same code
// as ytx's ranged chunks, so that the server side is the same for all.
func wholeRange(u string, size int64) string {
	return u + "&range=0-" + strconv.FormatInt(size-1, 10)
}

// downloader is one program under comparison.
type downloader struct {
	name    string
	program string // looked up in PATH; "" for ytx
	// http is the HTTP version it speaks; "" means it prints it (curl's
	// --write-out).
	http string
	// command fetches s into out.
	command func(b *testing.B, yt *fakeproc.Process, s resolved, out string) *exec.Cmd
}

// downloaders: curl twice, because on this server its default (HTTP/2, one
// stream) is slower than HTTP/1.1; the bound is the faster of the two.
var downloaders = []downloader{
	{name: "ytx", http: "1.1", command: ytxCommand},
	{name: "yt-dlp", program: "yt-dlp", http: "1.1", command: ytdlpCommand},
	{name: "curl", program: "curl", command: curlCommand()},
	{name: "curl --http1.1", program: "curl", command: curlCommand("--http1.1")},
}

// ytxCommand runs the worker's download path (download.Downloader.ToFile
// with `ytx worker`'s default options, through youtube.NewHTTPClient,
// which takes the proxy and CA from the environment as a worker does) in
// a process of its own: this test binary again, see TestDownloadProcess.
func ytxCommand(b *testing.B, yt *fakeproc.Process, s resolved, out string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestDownloadProcess$")
	cmd.Env = append(os.Environ(), yt.Env()...)
	cmd.Env = append(cmd.Env, downloadEnv+"="+strings.Join([]string{s.url, strconv.FormatInt(s.size, 10), out}, " "))
	return cmd
}

// ytdlpCommand is Debian's yt-dlp on the info.json, as a user would run it
// offline: no YouTube extractor runs, it downloads the format's URL.
func ytdlpCommand(b *testing.B, yt *fakeproc.Process, s resolved, out string) *exec.Cmd {
	return exec.Command("yt-dlp", "--ignore-config", "--no-cache-dir", "--quiet", "--no-progress", "--no-part",
		"--proxy", yt.Proxy.String(), "--no-check-certificate",
		"--load-info-json", s.infoJSON, "-f", strconv.Itoa(dlItag), "-o", out)
}

// curlCommand is the raw bound: one GET of the whole stream, through the
// same proxy, verifying the fake's certificate with its CA.
func curlCommand(extra ...string) func(b *testing.B, yt *fakeproc.Process, s resolved, out string) *exec.Cmd {
	return func(b *testing.B, yt *fakeproc.Process, s resolved, out string) *exec.Cmd {
		args := append([]string{"--silent", "--show-error", "--fail", "--proxy", yt.Proxy.String(),
			"--cacert", yt.CAFile, "--write-out", "%{http_version}", "-o", out}, extra...)
		return exec.Command("curl", append(args, wholeRange(s.url, s.size))...)
	}
}

// fetch is one measured download.
type fetch struct {
	wall time.Duration
	// peak is the process's peak RSS (VmHWM).
	peak int64
	// cpu is the CPU time of the program and of the fake YouTube's
	// process during the download: together they say whether the machine's
	// cores were what bound it.
	cpu, fakeCPU time.Duration
	// stdout of the program (curl's HTTP version, ytx's own figures).
	stdout string
}

// run downloads s with d into dir and checks the file's size.
func (d downloader) run(b *testing.B, yt *fakeproc.Process, s resolved, dir string, env ...string) fetch {
	b.Helper()
	out := filepath.Join(dir, strings.NewReplacer(" ", "", "-", "").Replace(d.name)+"-"+s.id+".mp4")
	defer os.Remove(out)
	cmd := d.command(b, yt, s, out)
	if len(env) > 0 {
		cmd.Env = append(cmd.Environ(), env...)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began, fakeBefore := time.Now(), cpuTime(yt.PID)
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s: %v", d.name, err)
	}
	peak := watchPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	wall, fakeCPU := time.Since(began), cpuTime(yt.PID)-fakeBefore
	if err != nil {
		b.Fatalf("%s: %v\n%s", d.name, err, stderr.String())
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() != s.size {
		b.Fatalf("%s wrote %v (%v), want %d bytes\n%s", d.name, fi, err, s.size, stderr.String())
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return fetch{wall: wall, peak: peak(), stdout: stdout.String(), cpu: cpu, fakeCPU: fakeCPU}
}

// watchPeakRSS samples a process's VmHWM every 10 ms while it runs; the
// returned func gives the last sample once the process is gone. VmHWM only
// grows, so the last sample is the peak but for the process's last 10 ms.
// (getrusage's ru_maxrss would be exact but is wrong here: a child of a Go
// program starts in its parent's address space, vfork-style, and Linux
// counts the parent's RSS at the exec into the child's maximum.)
func watchPeakRSS(pid int) (peak func() int64) {
	var last atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		status := fmt.Sprintf("/proc/%d/status", pid)
		for {
			v, err := procField(status, "VmHWM")
			if err != nil {
				return // gone (a zombie has no VmHWM)
			}
			last.Store(v)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() int64 {
		<-done
		return last.Load()
	}
}

// downloadEnv hands TestDownloadProcess its job: "URL SIZE OUT".
const (
	downloadEnv        = "YTX_BENCH_DOWNLOAD"
	downloadProfileEnv = "YTX_BENCH_DOWNLOAD_CPUPROFILE"
)

// TestDownloadProcess is not a test: started by ytxCommand, it downloads
// one stream as `ytx worker` does and prints how long ToFile took, the
// process's RSS before it and its peak RSS (VmHWM) after.
func TestDownloadProcess(t *testing.T) {
	job := strings.Fields(os.Getenv(downloadEnv))
	if len(job) != 3 {
		t.Skip("the download benchmark's child process")
	}
	size, err := strconv.ParseInt(job[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if path := os.Getenv(downloadProfileEnv); path != "" {
		stop := startCPUProfile(t, path)
		defer stop()
	}
	before, _ := procField("/proc/self/status", "VmRSS")
	took, err := workerDownload(job[0], size, job[2])
	if err != nil {
		t.Fatal(err)
	}
	peak, _ := procField("/proc/self/status", "VmHWM")
	fmt.Printf("YTX %d %d %d\n", took, before, peak)
}

// workerDownload is what a worker's job does with a stream URL: ToFile
// with `ytx worker`'s default options, through the HTTP client that the
// worker builds for media (youtube.NewMediaClient: proxy and CA from the
// environment, HTTP/1.1),
// counting progress as the worker's heartbeat does.
func workerDownload(url string, size int64, out string) (time.Duration, error) {
	d := &download.Downloader{
		HTTP: youtube.NewMediaClient(youtube.HTTPOptions{}),
		Options: download.Options{
			ChunkSize: download.DefaultChunkSize, Parallel: download.DefaultParallel,
			IdleTimeout: download.DefaultIdleTimeout, MaxBytes: 8 << 30, // --max-artifact-bytes
		},
	}
	var done atomic.Int64
	began := time.Now()
	err := d.ToFile(context.Background(), url, size, out, func(n int64) { done.Add(n) })
	return time.Since(began), err
}

// ytxFigures parses TestDownloadProcess's line: ToFile's time, and the
// process's RSS before and at its peak.
func ytxFigures(stdout string) (took time.Duration, before, peak int64, ok bool) {
	for _, line := range strings.Split(stdout, "\n") {
		var ns int64
		if _, err := fmt.Sscanf(line, "YTX %d %d %d", &ns, &before, &peak); err == nil {
			return time.Duration(ns), before, peak, true
		}
	}
	return 0, 0, 0, false
}

var downloadColumns = []string{"downloader", "stream", "MB/s", "× curl", "MB/s with start-up", "start-up", "peak RSS", "RSS growth", "HTTP", "CPU: downloader, fake YouTube"}

// BenchmarkDownload fetches a 500 MB stream from the fake YouTube (a child
// process) with the worker's download path, Debian's yt-dlp and curl, each
// a process of its own writing a file in the same directory, all through
// the fake's CONNECT proxy and TLS; then a 2 GB stream with ytx, to see
// that its memory does not grow with the file.
func BenchmarkDownload(b *testing.B) {
	for _, d := range downloaders {
		if _, err := exec.LookPath(d.program); d.program != "" && err != nil {
			b.Fatalf("%s: %v (make bench installs it from Debian)", d.program, err)
		}
	}
	yt := fakeproc.Start(b, "TestFakeYouTubeProcess")
	hc := yt.HTTPClient(b)
	dir := b.TempDir()
	main, big, tiny := resolve(b, hc, stream500MB, dir), resolve(b, hc, stream2GB, dir), resolve(b, hc, streamTiny, dir)

	fixed, best := map[string]time.Duration{}, map[string]fetch{}
	for round := range downloadRounds {
		for _, d := range downloaders {
			if f := d.run(b, yt, tiny, dir); round == 0 || f.wall < fixed[d.name] {
				fixed[d.name] = f.wall
			}
			var env []string
			if path := profilePath("download-ytx"); d.name == "ytx" && round == downloadRounds-1 && path != "" {
				env = []string{downloadProfileEnv + "=" + path}
			}
			prev, ok := best[d.name]
			best[d.name] = faster(prev, ok, d.run(b, yt, main, dir, env...))
		}
	}
	reportDownloads(b, main, best, fixed)
	reportBig(b, downloaders[0].run(b, yt, big, dir), best["ytx"], fixed["ytx"], big)
}

// faster keeps the faster of two rounds, with the higher peak RSS of both.
func faster(prev fetch, ok bool, f fetch) fetch {
	if !ok {
		return f
	}
	peak := max(prev.peak, f.peak)
	if f.wall < prev.wall {
		prev = f
	}
	prev.peak = peak
	return prev
}

// cpuCell writes a download's CPU time, the program's and the fake's.
func cpuCell(f fetch) string { return seconds(f.cpu) + ", " + seconds(f.fakeCPU) }

// rate is MB/s (10^6 bytes) for size bytes in d.
func rate(size int64, d time.Duration) float64 { return float64(size) / 1e6 / d.Seconds() }

func reportDownloads(b *testing.B, s resolved, best map[string]fetch, fixed map[string]time.Duration) {
	speed := map[string]float64{}
	for _, d := range downloaders {
		speed[d.name] = rate(s.size, best[d.name].wall-fixed[d.name])
	}
	curl := max(speed["curl"], speed["curl --http1.1"])
	for _, d := range downloaders {
		f, growth, proto := best[d.name], "—", d.http
		if _, before, peak, ok := ytxFigures(f.stdout); ok {
			growth = cell(mib(peak-before)) + " MiB"
		}
		if proto == "" {
			proto = strings.TrimSpace(f.stdout)
		}
		b.ReportMetric(speed[d.name], strings.ReplaceAll(d.name, " ", "")+"-MB/s")
		results.row(secDownloads, downloadColumns, d.name, "500 MB", speed[d.name], speed[d.name]/curl,
			rate(s.size, f.wall), fixed[d.name], cell(mib(f.peak))+" MiB", growth, proto, cpuCell(f))
	}
	results.goal("Downloads: ytx at least as fast as yt-dlp", speed["ytx"] >= speed["yt-dlp"],
		"ytx %.0f MB/s, yt-dlp %.0f MB/s (%.2f×)", speed["ytx"], speed["yt-dlp"], speed["ytx"]/speed["yt-dlp"])
	results.goal("Downloads: ytx within 80% of curl", speed["ytx"] >= 0.8*curl,
		"%.2f of curl's %.0f MB/s (the faster of HTTP/2 and HTTP/1.1)", speed["ytx"]/curl, curl)
	downloadNotes()
}

func downloadNotes() {
	results.note(secDownloads, "Each program is a process of its own that writes the stream to a file in the same directory and reaches the fake YouTube (another process) through its CONNECT proxy and TLS. "+
		"ytx is the worker's download path (download.Downloader.ToFile with `ytx worker`'s defaults: %d MiB chunks, %d in flight, each on its own HTTP/1.1 connection, through youtube.NewMediaClient with HTTPS_PROXY and SSL_CERT_FILE), given the signed stream URL as a worker has it after kkdai resolved it; "+
		"yt-dlp %s reads the info.json that ytx writes for the video, with that URL added to the format; curl gets the same URL, with HTTP/2 (its default here) and with --http1.1; × curl is against the faster of the two. "+
		"yt-dlp and curl ask for the whole stream in one request (googlevideo's range parameter, as ytx's chunks do, so the fake serves all three by the same code).",
		download.DefaultChunkSize>>20, download.DefaultParallel, ytdlpVersion())
	results.note(secDownloads, "Every program downloads the stream %d times, taking turns; the fastest round counts. Start-up is the fastest of %d downloads of a 1 kB stream with the same command (process start, reading info.json, connecting, TLS): "+
		"MB/s leaves it out (the stream's bytes over the wall time minus the start-up), \"with start-up\" does not. "+
		"Peak RSS is the process's VmHWM, sampled every 10 ms; RSS growth is ytx's VmHWM at the end less its VmRSS before the download. "+
		"CPU is the CPU time (user and system) that the program and the fake YouTube's process (the TLS server and the proxy) used in that round, out of the 2 × wall time the machine's cores offer.", downloadRounds, downloadRounds)
}

// reportBig records the 2 GB download and the memory goal: the worker's
// peak RSS under 100 MiB whatever the file's size.
func reportBig(b *testing.B, f, small fetch, fixed time.Duration, big resolved) {
	_, before, peak, _ := ytxFigures(f.stdout)
	_, sBefore, sPeak, _ := ytxFigures(small.stdout)
	b.ReportMetric(mib(f.peak), "ytx-2GB-peak-RSS-MiB")
	results.row(secDownloads, downloadColumns, "ytx", "2 GB (once)", rate(big.size, f.wall-fixed), "—",
		rate(big.size, f.wall), fixed, cell(mib(f.peak))+" MiB", cell(mib(peak-before))+" MiB", "1.1", cpuCell(f))
	worst := max(f.peak, small.peak)
	results.goal("Downloads: the worker's RSS flat, under 100 MiB, whatever the file's size", worst < 100<<20,
		"peak %.0f MiB for 500 MB, %.0f MiB for 2 GB (growth during the download %.1f and %.1f MiB)",
		mib(small.peak), mib(f.peak), mib(sPeak-sBefore), mib(peak-before))
}

// ytdlpVersion is `yt-dlp --version`.
func ytdlpVersion() string {
	out, err := exec.Command("yt-dlp", "--version").Output()
	if err != nil {
		return "(version unknown)"
	}
	return strings.TrimSpace(string(out))
}
