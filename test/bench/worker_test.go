package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/internal/youtube/fake/fakeproc"
	"ytx.dev/ytx/test/internal/freeport"
	"ytx.dev/ytx/test/internal/tail"
	"ytx.dev/ytx/test/internal/ytxbin"
)

var (
	workerSizes       = flag.String("bench.worker-sizes", "25,100", "worker memory: the size of each extraction's large stream, in MB (10^6 bytes), one round per size and chain; the goal compares the first size with the last")
	workerExtractions = flag.Int("bench.worker-extractions", 64, "worker memory: extractions applied at once in each round (twice --concurrency, so that it stays full)")
)

// workerConcurrency is the worker's --concurrency: the figure.
const workerConcurrency = 32

// workerChain is a resolver chain the worker runs with: a round of its own
// at every size.
type workerChain struct {
	name string
	args []string
}

// workerChains: ytx's default chain, where kkdai reads the fake YouTube
// in process, and yt-dlp alone, where every job also runs yt-dlp (python,
// and deno when it is on PATH) as a child of the worker.
var workerChains = []workerChain{
	{name: "default (kkdai, then yt-dlp)"},
	{name: "yt-dlp only", args: []string{"--resolvers", "yt-dlp"}},
}

var workerColumns = []string{"file size", "resolvers", "extractions", "most Running at once", "tree before: RSS, anon",
	"tree peak: RSS, anon", "worker peak RSS: sampled, VmHWM", "ffmpeg peak: RSS, anon, most at once, largest one's anon", "yt-dlp peak: RSS, anon, most at once, largest one's anon",
	"MB/s", "wall time", "files checked"}

// BenchmarkWorkerMemory runs `bin/ytx worker --concurrency 32` as a process
// of its own, fed by `bin/ytx manager` through Kafka as in a cluster, and
// applies 64 extractions at once whose streams are large real media from
// the fake YouTube (a child process, reached through its CONNECT proxy and
// TLS). It samples the memory of the worker's whole process tree (ffmpeg,
// yt-dlp) every 100 ms, at two file sizes: flat means the same peak for
// both. Every stored file is checked (size, sha256, and the media's
// packets against what the fake served); a mismatch fails the benchmark.
func BenchmarkWorkerMemory(b *testing.B) {
	bin := filepath.Join(repoRoot, "bin", "ytx")
	if err := ytxbin.Fresh(repoRoot, bin); err != nil {
		b.Fatal(err)
	}
	sizes := parseWorkerSizes(b, *workerSizes)
	cp := startControlPlane(b)
	byChain := map[string][]workerRound{}
	for _, mb := range sizes {
		media := makeWorkerMedia(b, mb, *workerExtractions)
		for _, chain := range workerChains {
			b.Run(fmt.Sprintf("%dMB-%s", mb, strings.Fields(chain.name)[0]), func(b *testing.B) {
				r := runWorkerRound(b, cp, bin, media, chain)
				b.ReportMetric(mib(r.peak.total), "tree-peak-MiB")
				reportWorkerRound(r)
				byChain[chain.name] = append(byChain[chain.name], r)
			})
		}
		media.remove()
	}
	for _, chain := range workerChains {
		workerGoal(chain, byChain[chain.name])
	}
	workerNotes()
}

func parseWorkerSizes(b *testing.B, s string) []int {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		mb, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || mb < 1 || mb > 9999 {
			b.Fatalf("-bench.worker-sizes %q: want MB from 1 to 9999, comma-separated", s)
		}
		sizes = append(sizes, mb)
	}
	return sizes
}

// workerRound is what one round measured.
type workerRound struct {
	media *workerMedia
	chain workerChain
	// running is the most extractions seen Running at once.
	running int
	// before is the tree's memory just before the extractions were
	// applied; peak its largest samples after.
	before treeSample
	peak   treePeak
	// hwm is the worker process's own VmHWM at the end.
	hwm  int64
	wall time.Duration
	// served is the bytes of the streams the jobs downloaded.
	served         int64
	checked, files int
}

// runWorkerRound starts the fake YouTube, the manager and the worker for
// media, applies the extractions, and measures the worker's process tree
// until all have Succeeded.
func runWorkerRound(b *testing.B, cp *controlPlane, bin string, media *workerMedia, chain workerChain) workerRound {
	manifest, err := json.Marshal(media)
	if err != nil {
		b.Fatal(err)
	}
	b.Setenv(workerMediaEnv, string(manifest))
	yt := fakeproc.Start(b, "TestWorkerMemoryFakeYouTube")
	ns := cp.namespace(b, "workermem")
	storeDir := b.TempDir()
	w := startWorkerSystem(b, cp, bin, ns, "file://"+storeDir, yt.Env(), chain)

	before := quietTree(w.pid())
	watch := watchTree(w.pid(), 100*time.Millisecond)
	check := newVerifier(media)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	began := time.Now()
	if err := createWorkerExtractions(ctx, cp.admin, ns, media); err != nil {
		b.Fatal(err)
	}
	running, err := waitSucceeded(ctx, cp.admin, ns, media.N, w.exited, check.add)
	wall := time.Since(began)
	peak := watch.stop()
	hwm := memoryOf(w.pid()).peak
	w.stop(b)
	checked, files, failures := check.wait()
	if err != nil {
		b.Fatalf("%v\nworker's last lines:\n%s", err, w.out.Last(20))
	}
	if len(failures) > 0 {
		b.Fatalf("%d of %d stored files are wrong:\n%s", files-checked, files, strings.Join(failures, "\n"))
	}
	return workerRound{media: media, chain: chain, running: running, before: before, peak: peak, hwm: hwm,
		wall: wall, served: media.served(), checked: checked, files: files}
}

// startWorkerSystem starts `ytx manager` and `ytx worker` for namespace
// ns on a Kafka topic and group of their own, and returns the worker once
// it is ready and holds the topic's partitions.
func startWorkerSystem(b *testing.B, cp *controlPlane, bin, ns, storage string, youTubeEnv []string, chain workerChain) *process {
	b.Helper()
	kubeconfig := filepath.Join(b.TempDir(), "kubeconfig")
	if err := cp.api.WriteKubeconfig(kubeconfig); err != nil {
		b.Fatal(err)
	}
	cfg := kafkaConfig(cp, ns)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg, kafkaPartitions, cfg.Topic, cfg.ListingTopic, cfg.DeadLetterTopic); err != nil {
		b.Fatal(err)
	}
	common := []string{"--kubeconfig", kubeconfig, "--storage", storage,
		"--kafka-brokers", strings.Join(cfg.Brokers, ","), "--kafka-topic", cfg.Topic, "--kafka-listing-topic", cfg.ListingTopic, "--kafka-group", cfg.Group,
		"--metrics-bind-address", "0", "--log-format", "json"}
	// bin/ is on PATH as `make bench` has it, for deno, which yt-dlp
	// solves YouTube's challenges with.
	env := append([]string{"PATH=" + filepath.Join(repoRoot, "bin") + ":" + os.Getenv("PATH"), "HOME=" + b.TempDir()}, youTubeEnv...)
	startProcess(b, "ytx manager", bin, env, append([]string{"manager", "--namespaces", ns,
		"--max-in-flight-per-namespace", "0", "--health-probe-bind-address", "0"}, common...)...)
	port, err := freeport.Get()
	if err != nil {
		b.Fatal(err)
	}
	health := "127.0.0.1:" + strconv.Itoa(port)
	args := append([]string{"worker", "--name", "workermem", "--concurrency", strconv.Itoa(workerConcurrency),
		"--kafka-dead-letter-topic", cfg.DeadLetterTopic, "--scratch-dir", b.TempDir(), "--health-probe-bind-address", health}, common...)
	w := startProcess(b, "ytx worker", bin, env, append(args, chain.args...)...)
	if err := waitReadyz(ctx, "http://"+health+"/readyz", w); err != nil {
		b.Fatalf("%v\n%s", err, w.out.Last(20))
	}
	if err := kafkaGroupReady(ctx, cp, cfg.Group, 1); err != nil {
		b.Fatal(err)
	}
	return w
}

// process is a ytx program running as a child of the benchmark.
type process struct {
	name   string
	cmd    *exec.Cmd
	out    *tail.Buffer
	exited chan struct{}
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// startProcess runs bin with args; b's cleanup stops it.
func startProcess(b *testing.B, name, bin string, env []string, args ...string) *process {
	b.Helper()
	p := newProcess(name, bin, env, args...)
	p.start(b)
	return p
}

// newProcess prepares bin with args, not started yet: its command may
// still be changed (memoryCgroup.hold).
func newProcess(name, bin string, env []string, args ...string) *process {
	p := &process{name: name, cmd: exec.Command(bin, args...), out: &tail.Buffer{Max: 64 << 10}, exited: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// A benchmark killed by its timeout must not leave it behind.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return p
}

// start runs the prepared process; b's cleanup stops it.
func (p *process) start(b *testing.B) {
	b.Helper()
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		p.cmd.Wait() //nolint:errcheck // stop or the failure it causes says why
		close(p.exited)
	}()
	b.Cleanup(func() { p.stop(b) })
}

// stop sends SIGTERM and waits for the process to end (killing it after
// 30 s); it says what a process that had ended on its own printed.
func (p *process) stop(b *testing.B) {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have just ended
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill() //nolint:errcheck // as above
		<-p.exited
		b.Errorf("%s did not stop within 30 s of SIGTERM\n%s", p.name, p.out.Last(20))
	}
}

// waitReadyz waits until url answers 200.
func waitReadyz(ctx context.Context, url string, p *process) error {
	for {
		if resp, err := http.Get(url); err == nil { //nolint:noctx // loopback
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", p.name, ctx.Err())
		case <-p.exited:
			return fmt.Errorf("%s exited: %v", p.name, p.cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// createWorkerExtractions creates the round's extractions from 8 clients:
// even ones ask for the video (mp4, ffmpeg muxes it with its audio), odd
// ones for the audio (m4a, ffmpeg copies it with tags and the thumbnail).
func createWorkerExtractions(ctx context.Context, c client.Client, ns string, m *workerMedia) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(creators)
	for i := range m.N {
		g.Go(func() error {
			x := extraction(ns, fmt.Sprintf("x-%04d", i), m.videoID(i))
			if m.isVideo(i) {
				x.Spec.Video = &v1alpha1.VideoSpec{MaxHeight: 720}
			} else {
				x.Spec.Audio = &v1alpha1.AudioSpec{Format: v1alpha1.AudioM4A}
			}
			return c.Create(ctx, x)
		})
	}
	return g.Wait()
}

// waitSucceeded lists the namespace's extractions every 200 ms until n have
// Succeeded, handing each to done once. A Failed one, or the worker's
// exit, ends it with an error. It returns the most seen Running at once.
func waitSucceeded(ctx context.Context, c client.Client, ns string, n int, exited <-chan struct{}, done func(*v1alpha1.YouTubeExtraction)) (int, error) {
	seen := map[string]bool{}
	most := 0
	for len(seen) < n {
		var list v1alpha1.YouTubeExtractionList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return most, err
		}
		running := 0
		for i := range list.Items {
			x := &list.Items[i]
			switch x.Status.Phase {
			case v1alpha1.PhaseRunning:
				running++
			case v1alpha1.PhaseFailed:
				return most, fmt.Errorf("%s failed: %+v", x.Name, x.Status.LastFailure)
			case v1alpha1.PhaseSucceeded:
				if !seen[x.Name] {
					seen[x.Name] = true
					done(x)
				}
			}
		}
		most = max(most, running)
		if len(seen) == n {
			break
		}
		select {
		case <-ctx.Done():
			return most, fmt.Errorf("%d of %d extractions Succeeded: %w", len(seen), n, ctx.Err())
		case <-exited:
			return most, errors.New("ytx worker exited")
		case <-time.After(200 * time.Millisecond):
		}
	}
	return most, nil
}

func reportWorkerRound(r workerRound) {
	kindCell := func(kind string) string {
		if r.peak.most[kind] == 0 {
			return "—"
		}
		return fmt.Sprintf("%s, %s MiB, %d, %s MiB", cell(mib(r.peak.rss[kind])), cell(mib(r.peak.anonOf[kind])), r.peak.most[kind], cell(mib(r.peak.one[kind])))
	}
	results.row(secWorker, workerColumns, fmt.Sprintf("%d MB", r.media.SizeMB), r.chain.name, r.media.N, r.running,
		fmt.Sprintf("%s, %s MiB", cell(mib(r.before.total)), cell(mib(r.before.anon))),
		fmt.Sprintf("%s, %s MiB", cell(mib(r.peak.total)), cell(mib(r.peak.anon))),
		fmt.Sprintf("%s, %s MiB", cell(mib(r.peak.rss[kindWorker])), cell(mib(r.hwm))),
		kindCell(kindFFmpeg), kindCell(kindYTDLP), rate(r.served, r.wall), r.wall,
		fmt.Sprintf("%d of %d", r.checked, r.files))
}

// workerGoal compares the tree's peak at the largest size with the one at
// the smallest, for one chain, in this run: flat is within 10%, for the
// RSS sum and for the anonymous memory alone (the RSS sum holds every
// ffmpeg's shared libraries, which would dilute the growth).
func workerGoal(chain workerChain, rounds []workerRound) {
	if len(rounds) < 2 {
		return
	}
	small, large := rounds[0], rounds[len(rounds)-1]
	ratio := float64(large.peak.total) / float64(small.peak.total)
	anonRatio := float64(large.peak.anon) / float64(small.peak.anon)
	perMB := mib(large.peak.anon-small.peak.anon) / float64(large.media.SizeMB-small.media.SizeMB)
	results.goal(fmt.Sprintf("Worker memory, %s: the process tree's peak memory flat with file size at --concurrency %d (RSS and anon within 10%%)", chain.name, workerConcurrency),
		ratio <= 1.1 && anonRatio <= 1.1,
		"RSS %.0f MiB at %d MB, %.0f MiB at %d MB (×%.2f); anon %.0f → %.0f MiB (×%.2f, %.2f MiB per MB of file); ffmpeg's anon %.0f → %.0f MiB, the largest one's %.0f → %.0f MiB; the worker's VmHWM %.0f → %.0f MiB",
		mib(small.peak.total), small.media.SizeMB, mib(large.peak.total), large.media.SizeMB, ratio,
		mib(small.peak.anon), mib(large.peak.anon), anonRatio, perMB,
		mib(small.peak.anonOf[kindFFmpeg]), mib(large.peak.anonOf[kindFFmpeg]), mib(small.peak.one[kindFFmpeg]), mib(large.peak.one[kindFFmpeg]),
		mib(small.hwm), mib(large.hwm))
}

func workerNotes() {
	results.note(secWorker, "`bin/ytx worker --concurrency %d` runs as a process of its own with its defaults (file:// storage, scratch on the same disk, --ytdlp-max-procs 4, --ffmpeg-max-procs 4), fed through Kafka (kfake) by `bin/ytx manager --max-in-flight-per-namespace 0`, against a fresh kube-apiserver and etcd (envtest); "+
		"it reaches the fake YouTube, a child process of the benchmark, through its CONNECT proxy and TLS (HTTPS_PROXY, SSL_CERT_FILE), as a worker reaches YouTube through a proxy. "+
		"Each round applies %d extractions at once (%d clients): even ones ask for the video (spec.video.maxHeight 720: ffmpeg muxes the video and audio streams into mp4), odd ones for the audio (spec.audio m4a: ffmpeg copies it into m4a with tags and the thumbnail). "+
		"Rounds run with ytx's default resolver chain (kkdai reads the fake in process) and with yt-dlp alone (every job also runs yt-dlp -J as the worker's child).",
		workerConcurrency, *workerExtractions, creators)
	results.note(secWorker, "The streams are real media made by ffmpeg, looped to size with -c copy: the video is H.264 720p25 at about 6.6 Mbit/s with its AAC audio (the file size is the video stream's), the audio is AAC at about 130 kbit/s (the file size is the audio stream's: at 100 MB, about 100 minutes), as YouTube's itags 136 and 140 carry them; every video of a round serves the same files. "+
		"MB/s is the bytes of the streams the jobs downloaded over the wall time from the first create to the last Succeeded, while the benchmark also checked and deleted each extraction's files as it Succeeded.")
	results.note(secWorker, "Memory is sampled every 100 ms: the worker's pid and all its descendants (from the ppid in /proc/*/stat), summing each one's VmRSS (RSS) and RssAnon (anon) from /proc/<pid>/status. "+
		"The RSS sum counts the pages of shared libraries once per process (about 40 MiB of each ffmpeg's RSS), which the machine, and a container's memory limit, hold once: the anon sum leaves them out and is the tree's own memory. "+
		"Tree before is a sample once the worker is ready and has no children, just before the extractions are applied; tree peak is the largest sum of one sample during the round. "+
		"Per kind, the peak is the largest sum of that kind in one sample: the worker process alone (and its VmHWM at the end), ffmpeg (all ffmpeg processes at once), yt-dlp (yt-dlp's python and what it starts, such as deno); most at once is the most such processes in one sample, and the largest one's anon the most RssAnon one process of that kind had in any sample. "+
		"A child that lives less than 100 ms may be missed.")
	results.note(secWorker, "Every stored file (status.artifacts) is checked as its extraction Succeeds, then deleted: it exists with sizeBytes bytes and sha256 matches its bytes; the video's and audio's packets (ffmpeg's streamhash, SHA-256) are those the fake served; info.json is JSON naming the video. "+
		"Files checked counts the files that passed all of them; one that fails fails the benchmark.")
}

// workerMediaEnv hands TestWorkerMemoryFakeYouTube its workerMedia, as
// JSON.
const workerMediaEnv = "YTX_BENCH_WORKER_MEDIA"

// TestWorkerMemoryFakeYouTube is not a test: started by fakeproc.Start, it
// serves the worker memory benchmark's videos from a child process.
func TestWorkerMemoryFakeYouTube(t *testing.T) {
	raw := os.Getenv(workerMediaEnv)
	if raw == "" {
		t.Skip("the worker memory benchmark's fake YouTube")
	}
	var m workerMedia
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	videos, err := m.videos()
	if err != nil {
		t.Fatal(err)
	}
	fakeproc.Serve(t, videos...)
}

// workerMedia are a round's streams: files made by ffmpeg, which every
// video of the round serves, and the videos' count.
type workerMedia struct {
	SizeMB int
	N      int
	Dir    string
	// Video (H.264) and VideoAudio (AAC) are a video's streams; Audio
	// (AAC) is an audio extraction's. Seconds are their durations.
	Video, VideoAudio, Audio   string
	VideoSeconds, AudioSeconds float64
	// hashes are each file's streamhash by stream type ("v", "a").
	hashes map[string]map[string]string
	sizes  map[string]int64
}

// Clips that makeWorkerMedia loops: 4 s, at YouTube's bitrates for 720p
// video and for audio.
const clipSeconds = 4

// makeWorkerMedia makes the streams of sizeMB for n videos in a directory
// of their own, which remove deletes.
func makeWorkerMedia(b *testing.B, sizeMB, n int) *workerMedia {
	b.Helper()
	dir, err := os.MkdirTemp(b.TempDir(), "media")
	if err != nil {
		b.Fatal(err)
	}
	m := &workerMedia{SizeMB: sizeMB, N: n, Dir: dir, hashes: map[string]map[string]string{}, sizes: map[string]int64{}}
	vclip, aclip := filepath.Join(dir, "clip.mp4"), filepath.Join(dir, "clip.m4a")
	secs := strconv.Itoa(clipSeconds)
	if err := ffmpeg("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration="+secs, "-vf", "noise=alls=30:allf=t",
		"-c:v", "libx264", "-preset", "ultrafast", "-x264-params", "cabac=1", "-profile:v", "main",
		"-b:v", "6M", "-maxrate", "6M", "-bufsize", "6M", "-pix_fmt", "yuv420p", "-g", "50", "-f", "mp4", vclip); err != nil {
		b.Fatal(err)
	}
	if err := ffmpeg("-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.05:sample_rate=44100:duration="+secs,
		"-ac", "2", "-c:a", "aac", "-b:a", "128k", "-f", "mp4", aclip); err != nil {
		b.Fatal(err)
	}
	size := int64(sizeMB) * 1e6
	videoLoops, audioLoops := loopsFor(b, vclip, size), loopsFor(b, aclip, size)
	m.Video, m.VideoAudio, m.Audio = filepath.Join(dir, "video.mp4"), filepath.Join(dir, "video-audio.m4a"), filepath.Join(dir, "audio.m4a")
	m.VideoSeconds, m.AudioSeconds = float64(videoLoops*clipSeconds), float64(audioLoops*clipSeconds)
	for _, f := range []struct {
		clip, out string
		loops     int
	}{{vclip, m.Video, videoLoops}, {aclip, m.VideoAudio, videoLoops}, {aclip, m.Audio, audioLoops}} {
		if err := ffmpeg("-stream_loop", strconv.Itoa(f.loops-1), "-i", f.clip, "-c", "copy", "-movflags", "+faststart", "-f", "mp4", f.out); err != nil {
			b.Fatal(err)
		}
		if m.hashes[f.out], err = streamHashes(f.out); err != nil {
			b.Fatal(err)
		}
		fi, err := os.Stat(f.out)
		if err != nil {
			b.Fatal(err)
		}
		m.sizes[f.out] = fi.Size()
	}
	return m
}

// loopsFor is how many times clip must play to make size bytes, at least.
func loopsFor(b *testing.B, clip string, size int64) int {
	fi, err := os.Stat(clip)
	if err != nil {
		b.Fatal(err)
	}
	return int(math.Ceil(float64(size) / float64(fi.Size())))
}

func (m *workerMedia) remove() { os.RemoveAll(m.Dir) } //nolint:errcheck // the TempDir's cleanup tries again

// videoID is video i's ID: 11 characters, with the size and the kind.
func (m *workerMedia) videoID(i int) string {
	kind := 'a'
	if m.isVideo(i) {
		kind = 'v'
	}
	return fmt.Sprintf("wm%04d%c%04d", m.SizeMB, kind, i)
}

func (m *workerMedia) isVideo(i int) bool { return i%2 == 0 }

// served is the bytes the round's jobs download: a video's two streams, an
// audio's one.
func (m *workerMedia) served() int64 {
	videos := int64((m.N + 1) / 2)
	return videos*(m.sizes[m.Video]+m.sizes[m.VideoAudio]) + (int64(m.N)-videos)*m.sizes[m.Audio]
}

// videos are the fake's videos: itags 136 (720p H.264) and 140 (AAC) for
// a video, 140 alone for an audio.
func (m *workerMedia) videos() ([]fake.Video, error) {
	var out []fake.Video
	for i := range m.N {
		v := fake.Video{
			ID: m.videoID(i), Title: fmt.Sprintf("Worker memory %d MB #%d", m.SizeMB, i), Author: "ytx",
			ChannelID: "UCytxWorkerMemory0000000", PublishDate: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		}
		var err error
		if m.isVideo(i) {
			v.LengthSeconds = int(m.VideoSeconds)
			v.Formats, err = formats(m.VideoSeconds, m.Video, m.VideoAudio)
		} else {
			v.LengthSeconds = int(m.AudioSeconds)
			v.Formats, err = formats(m.AudioSeconds, "", m.Audio)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// formats lists a video stream (when video is not "") and an audio stream
// as YouTube lists itags 136 and 140.
func formats(seconds float64, video, audio string) ([]fake.Format, error) {
	var fs []fake.Format
	if video != "" {
		fs = append(fs, fake.Format{Itag: 136, MimeType: `video/mp4; codecs="avc1.4d401f"`, Width: 1280, Height: 720, FPS: 25, QualityLabel: "720p"})
	}
	fs = append(fs, fake.Format{Itag: 140, MimeType: `audio/mp4; codecs="mp4a.40.2"`, AudioQuality: "AUDIO_QUALITY_MEDIUM", AudioSampleRate: 44100, AudioChannels: 2})
	files := []string{video, audio}
	if video == "" {
		files = files[1:]
	}
	for i, path := range files {
		media, err := fake.File(path)
		if err != nil {
			return nil, err
		}
		f := &fs[i]
		f.Media, f.ContentLength = media, media.Size()
		f.Bitrate = int(float64(media.Size()) * 8 / seconds)
		f.AverageBitrate, f.ApproxDurationMs = f.Bitrate, int64(seconds*1000)
	}
	return fs, nil
}

// ffmpeg runs ffmpeg with args, quietly, overwriting its output.
func ffmpeg(args ...string) error {
	cmd := exec.Command("ffmpeg", append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ffmpeg %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// streamHashes is ffmpeg's SHA-256 of the packets of each stream of a
// file, by stream type ("v", "a"; the first of each type): equal for two
// files that carry the same packets in other containers.
func streamHashes(path string) (map[string]string, error) {
	out, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-i", "file:"+path,
		"-map", "0", "-c", "copy", "-f", "streamhash", "-hash", "sha256", "-").Output()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg streamhash %s: %w", path, err)
	}
	hashes := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		if len(f) != 3 {
			continue
		}
		if _, ok := hashes[f[1]]; !ok {
			hashes[f[1]] = strings.TrimPrefix(f[2], "SHA256=")
		}
	}
	return hashes, nil
}

// verifier checks the stored files of each extraction that Succeeded, one
// extraction at a time beside the run, and deletes them, so that the disk
// holds only the files of the jobs in flight.
type verifier struct {
	media *workerMedia
	jobs  chan *v1alpha1.YouTubeExtraction
	done  chan struct{}
	// checked files passed every check, out of files.
	checked, files int
	failures       []string
}

func newVerifier(m *workerMedia) *verifier {
	v := &verifier{media: m, jobs: make(chan *v1alpha1.YouTubeExtraction, m.N), done: make(chan struct{})}
	go func() {
		defer close(v.done)
		for x := range v.jobs {
			v.check(x)
		}
	}()
	return v
}

func (v *verifier) add(x *v1alpha1.YouTubeExtraction) { v.jobs <- x.DeepCopy() }

// wait returns, once every extraction handed in is checked, the files that
// passed, the files, and what failed.
func (v *verifier) wait() (checked, files int, failures []string) {
	close(v.jobs)
	<-v.done
	return v.checked, v.files, v.failures
}

func (v *verifier) check(x *v1alpha1.YouTubeExtraction) {
	want := v1alpha1.ArtifactAudio
	if x.Spec.Video != nil {
		want = v1alpha1.ArtifactVideo
	}
	kinds := map[v1alpha1.ArtifactKind]bool{}
	for _, a := range x.Status.Artifacts {
		v.files++
		kinds[a.Kind] = true
		if err := v.artifact(x, a); err != nil {
			v.failures = append(v.failures, fmt.Sprintf("%s %s %s: %v", x.Name, a.Kind, a.URI, err))
			continue
		}
		v.checked++
	}
	for _, k := range []v1alpha1.ArtifactKind{v1alpha1.ArtifactInfo, want} {
		if !kinds[k] {
			v.failures = append(v.failures, fmt.Sprintf("%s: no %s artifact in %+v", x.Name, k, x.Status.Artifacts))
		}
	}
}

// artifact checks one stored file against its status entry and what the
// fake served, then deletes it.
func (v *verifier) artifact(x *v1alpha1.YouTubeExtraction, a v1alpha1.Artifact) error {
	u, err := url.Parse(a.URI)
	if err != nil || u.Scheme != "file" {
		return fmt.Errorf("not a file:// URI (%v)", err)
	}
	path := u.Path
	defer os.Remove(path) //nolint:errcheck // the round's TempDir goes too
	size, sum, err := sha256File(path)
	switch {
	case err != nil:
		return err
	case size != a.SizeBytes:
		return fmt.Errorf("%d bytes on disk, status says %d", size, a.SizeBytes)
	case sum != a.SHA256:
		return fmt.Errorf("sha256 %s on disk, status says %s", sum, a.SHA256)
	}
	switch a.Kind {
	case v1alpha1.ArtifactInfo:
		return checkInfo(path, x)
	case v1alpha1.ArtifactVideo:
		return v.samePackets(path, map[string]string{"v": v.media.hashes[v.media.Video]["v"], "a": v.media.hashes[v.media.VideoAudio]["a"]})
	case v1alpha1.ArtifactAudio:
		return v.samePackets(path, map[string]string{"a": v.media.hashes[v.media.Audio]["a"]})
	}
	return nil
}

// samePackets checks that the file's first stream of each type carries
// the packets of the stream the fake served.
func (v *verifier) samePackets(path string, want map[string]string) error {
	got, err := streamHashes(path)
	if err != nil {
		return err
	}
	for typ, hash := range want {
		if hash == "" || got[typ] != hash {
			return fmt.Errorf("stream %s: packets hash to %q, the fake served %q", typ, got[typ], hash)
		}
	}
	return nil
}

func checkInfo(path string, x *v1alpha1.YouTubeExtraction) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var info struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return err
	}
	if !strings.HasSuffix(x.Spec.URL, "v="+info.ID) {
		return fmt.Errorf("info.json names video %q, the extraction %s", info.ID, x.Spec.URL)
	}
	return nil
}

// sha256File is a file's size and hex SHA-256.
func sha256File(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

// The kinds of process in the worker's tree.
const (
	kindWorker = "worker"
	kindFFmpeg = "ffmpeg"
	kindYTDLP  = "yt-dlp"
	kindOther  = "other"
)

// treeSample is one reading of a process tree's memory: VmRSS and RssAnon
// summed over all of it and by kind, the processes of each kind, and the
// largest RssAnon of one process of each kind.
type treeSample struct {
	total, anon      int64
	rss, anonOf, one map[string]int64
	count            map[string]int
}

// sampleTree reads the tree of processes under root from /proc: every
// process's ppid and command name from /proc/*/stat, then the VmRSS of
// those under root.
func sampleTree(root int) treeSample {
	parent, comm := processTable()
	children := map[int][]int{}
	for pid, ppid := range parent {
		children[ppid] = append(children[ppid], pid)
	}
	s := treeSample{rss: map[string]int64{}, anonOf: map[string]int64{}, one: map[string]int64{}, count: map[string]int{}}
	var walk func(pid int, kind string)
	walk = func(pid int, kind string) {
		rss, anon := residentOf(pid)
		s.total, s.anon = s.total+rss, s.anon+anon
		s.rss[kind] += rss
		s.anonOf[kind] += anon
		s.one[kind] = max(s.one[kind], anon)
		s.count[kind]++
		for _, c := range children[pid] {
			walk(c, kindOf(comm[c], kind))
		}
	}
	walk(root, kindWorker)
	return s
}

// residentOf is a process's VmRSS and RssAnon, from one read of its
// status; zeros once it is gone (or a zombie). RssAnon leaves out the
// pages of files, mostly shared libraries, which every ffmpeg counts in
// its VmRSS but the machine (and a container's memory limit) holds once.
func residentOf(pid int) (rss, anon int64) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	vs, err := procValues(path, "VmRSS", "RssAnon")
	if err != nil {
		return 0, 0
	}
	rss, _ = kilobytes(path, "VmRSS", vs["VmRSS"])
	anon, _ = kilobytes(path, "RssAnon", vs["RssAnon"])
	return rss, anon
}

// kindOf names a child by its command, or by its parent's kind: what
// yt-dlp starts (deno) counts as yt-dlp.
func kindOf(comm, parentKind string) string {
	switch {
	case parentKind == kindYTDLP:
		return kindYTDLP
	case comm == "ffmpeg":
		return kindFFmpeg
	case comm == "yt-dlp" || strings.HasPrefix(comm, "python"):
		return kindYTDLP
	}
	return kindOther
}

// processTable reads every process's ppid and command name.
func processTable() (parent map[int]int, comm map[int]string) {
	parent, comm = map[int]int{}, map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and ")".
		open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(string(data[end+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		parent[pid], comm[pid] = ppid, string(data[open+1:end])
	}
	return parent, comm
}

// quietTree waits (up to 30 s) until root has no children, such as the
// `yt-dlp --version` a worker runs as it starts, and returns the tree's
// memory then.
func quietTree(root int) treeSample {
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := sampleTree(root)
		if s.count[kindWorker] == 1 && len(s.count) == 1 || time.Now().After(deadline) {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// treePeak is the largest of a tree's samples: of the total, of each
// kind's sum, and of each kind's count.
type treePeak struct {
	total, anon      int64
	rss, anonOf, one map[string]int64
	most             map[string]int
	samples          int
}

func (p *treePeak) add(s treeSample) {
	p.samples++
	p.total, p.anon = max(p.total, s.total), max(p.anon, s.anon)
	for k, v := range s.rss {
		p.rss[k] = max(p.rss[k], v)
	}
	for k, v := range s.anonOf {
		p.anonOf[k] = max(p.anonOf[k], v)
	}
	for k, v := range s.one {
		p.one[k] = max(p.one[k], v)
	}
	for k, v := range s.count {
		p.most[k] = max(p.most[k], v)
	}
}

// treeWatch samples a process tree until stopped.
type treeWatch struct {
	peak treePeak
	quit chan struct{}
	done chan struct{}
}

func watchTree(root int, every time.Duration) *treeWatch {
	w := &treeWatch{peak: treePeak{rss: map[string]int64{}, anonOf: map[string]int64{}, one: map[string]int64{}, most: map[string]int{}}, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			w.peak.add(sampleTree(root))
			select {
			case <-w.quit:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// stop ends the sampling and returns the peaks.
func (w *treeWatch) stop() treePeak {
	close(w.quit)
	<-w.done
	return w.peak
}
