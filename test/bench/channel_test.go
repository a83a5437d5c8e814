package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/test/internal/freeport"
	"ytx.dev/ytx/test/internal/ytxbin"
)

// channelSizes are the channel's sizes, one run each on a fresh control
// plane: by default the figure, 1,000.
var channelSizes = flag.String("bench.channel-videos", "1000", "channel: comma-separated numbers of videos of the channel, one run (a row) each on a fresh control plane")

// The benchmark's channel on the fake YouTube.
const (
	benchChannelID     = "UCytxBenchChannel0000000"
	benchChannelHandle = "@ytxbench"
	benchChannelTitle  = "ytx Bench Channel"
)

var channelColumns = []string{"date", "commit", "videos", "listing pages served", "to the listing", "to all children created", "to all Succeeded",
	"to the status: all succeeded, synced", "children/s", "most Queued + Running (cap)", "manager's requests: writes, all (per child)", "manager RSS: before, peak", "manager Go heap in use: before, peak",
	"manager CPU (per child)", "kube-apiserver RSS: before, peak"}

// BenchmarkChannel applies one YouTubePlaylist of a 1,000-video channel
// with a metadata-only template to `bin/ytx manager` and two `bin/ytx
// worker` processes (Kafka, ytx's defaults but for the workers'
// concurrency, as in the orchestration runs), and measures the time from
// the apply to the listing, to every child created and to every child
// Succeeded, with the manager's and the API server's memory. A child
// missing, failed or created twice fails it; times are reported, never
// held to anything.
func BenchmarkChannel(b *testing.B) {
	bin := filepath.Join(repoRoot, "bin", "ytx")
	if err := ytxbin.Fresh(repoRoot, bin); err != nil {
		b.Fatal(err)
	}
	sizes, err := parseSizes(*channelSizes)
	if err != nil {
		b.Fatalf("-bench.channel-videos: %v", err)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("videos=%d", n), func(b *testing.B) {
			load := loadAverage()
			cp := startControlPlane(b)
			yt, ytEnv := startChannelYouTube(b, n)
			ns := cp.namespace(b, "channel")
			sys := startChannelSystem(b, cp, bin, ns, "file://"+b.TempDir(), ytEnv)
			r := runChannel(b, cp, yt, sys, ns, n)
			b.ReportMetric(r.succeeded.Seconds(), "to-all-Succeeded-s")
			b.ReportMetric(mib(r.manager.peak), "manager-peak-RSS-MiB")
			b.ReportMetric(r.managerCPU.Seconds(), "manager-CPU-s")
			reportChannel(r, load, n)
		})
	}
}

// startChannelYouTube serves, in this process, a channel of n
// small videos, newest first, and returns the environment a child process
// needs to reach it as it would reach YouTube: its CONNECT proxy and CA.
func startChannelYouTube(b *testing.B, n int) (*fake.Server, []string) {
	b.Helper()
	videos := fake.ManyVideos("bench", n)
	for i := range videos {
		videos[i].Author, videos[i].ChannelID, videos[i].ChannelHandle = benchChannelTitle, benchChannelID, benchChannelHandle
	}
	yt, err := fake.New(videos...)
	if err == nil {
		err = yt.AddChannel(fake.Channel{ID: benchChannelID, Handle: benchChannelHandle, Title: benchChannelTitle, Videos: fake.IDs(videos)})
	}
	if err == nil {
		err = yt.Start()
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { yt.Close() }) //nolint:errcheck // best effort
	ca := filepath.Join(b.TempDir(), "ca.pem")
	if err := yt.WriteCAFile(ca); err != nil {
		b.Fatal(err)
	}
	return yt, []string{"HTTPS_PROXY=" + yt.ProxyURL().String(), "SSL_CERT_FILE=" + ca}
}

// channelSystem is `ytx manager` and its workers, running.
type channelSystem struct {
	manager *process
	metrics string // the manager's /metrics
}

// startChannelSystem starts `ytx manager` for namespace ns with its
// defaults and benchWorkers `ytx worker` processes at the orchestration
// runs' concurrency, on Kafka topics and groups of their own, and returns
// once the workers are ready and hold partitions of both topics.
func startChannelSystem(b *testing.B, cp *controlPlane, bin, ns, storage string, ytEnv []string) channelSystem {
	b.Helper()
	kubeconfig := filepath.Join(b.TempDir(), "kubeconfig")
	if err := cp.api.WriteKubeconfig(kubeconfig); err != nil {
		b.Fatal(err)
	}
	cfg := kafkaConfig(cp, ns).WithDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg, kafkaPartitions, cfg.Topic, cfg.ListingTopic, cfg.DeadLetterTopic); err != nil {
		b.Fatal(err)
	}
	common := []string{"--kubeconfig", kubeconfig, "--storage", storage, "--log-format", "json",
		"--kafka-brokers", strings.Join(cfg.Brokers, ","), "--kafka-topic", cfg.Topic, "--kafka-listing-topic", cfg.ListingTopic, "--kafka-group", cfg.Group}
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + b.TempDir()}, ytEnv...)
	metrics, probe := freeAddr(b), freeAddr(b)
	m := startProcess(b, "ytx manager", bin, env, append([]string{"manager", "--namespaces", ns,
		"--metrics-bind-address", metrics, "--health-probe-bind-address", probe}, common...)...)
	if err := waitReadyz(ctx, "http://"+probe+"/readyz", m); err != nil {
		b.Fatalf("%v\n%s", err, m.out.Last(20))
	}
	for i := range benchWorkers {
		health := freeAddr(b)
		w := startProcess(b, "ytx worker", bin, env, append([]string{"worker", "--name", fmt.Sprintf("worker-%d", i),
			"--concurrency", strconv.Itoa(defaults.concurrency), "--kafka-dead-letter-topic", cfg.DeadLetterTopic, "--scratch-dir", b.TempDir(),
			"--metrics-bind-address", "0", "--health-probe-bind-address", health}, common...)...)
		if err := waitReadyz(ctx, "http://"+health+"/readyz", w); err != nil {
			b.Fatalf("%v\n%s", err, w.out.Last(20))
		}
	}
	for _, group := range []string{cfg.Group, cfg.ListingGroup} {
		if err := kafkaGroupReady(ctx, cp, group, benchWorkers); err != nil {
			b.Fatal(err)
		}
	}
	return channelSystem{manager: m, metrics: "http://" + metrics + "/metrics"}
}

func freeAddr(b *testing.B) string {
	port, err := freeport.Get()
	if err != nil {
		b.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// channelRun is what one run measured. Durations are from the apply.
type channelRun struct {
	listing, created, succeeded, status time.Duration
	// pages are the listing pages the fake served: the first page (a
	// channel or playlist page, or a browse request) and continuations.
	firstPages, continuations int64
	// mostInFlight is the most children Queued or Running at once.
	mostInFlight int
	// manager, api: memory before the apply (rss) and at its peak;
	// heap, heapPeak: the manager's Go heap in use before and at most.
	manager, api   memory
	heap, heapPeak int64
	// writes and requests are the manager's API requests until the end:
	// those that change something, and all.
	writes, requests int
	// managerCPU is the CPU time (user and system) the manager used from
	// the apply to the end.
	managerCPU time.Duration
}

// runChannel applies the playlist and waits until its status counts every
// child Succeeded and the sync done, checking the children on the way.
func runChannel(b *testing.B, cp *controlPlane, yt *fake.Server, sys channelSystem, ns string, n int) channelRun {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	children, err := watchChildren(ctx, cp.admin, ns)
	if err != nil {
		b.Fatal(err)
	}
	defer children.stop()
	heap := sampleHeap(sys.metrics, 250*time.Millisecond)
	r := channelRun{manager: memoryOf(sys.manager.pid()), api: memoryOf(cp.apiserverPID)}
	cpu := cpuTime(sys.manager.pid())
	pl := &v1alpha1.YouTubePlaylist{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "channel"},
		Spec:       v1alpha1.YouTubePlaylistSpec{URL: "https://www.youtube.com/channel/" + benchChannelID},
	}
	began := time.Now()
	if err := cp.admin.Create(ctx, pl); err != nil {
		b.Fatal(err)
	}
	r.listing, r.status, err = waitPlaylist(ctx, cp.admin, pl, began, children, sys.manager, n)
	r.managerCPU = cpuTime(sys.manager.pid()) - cpu
	r.heap, r.heapPeak = heap.stop()
	if err != nil {
		b.Fatalf("%v\nmanager's last lines:\n%s", err, sys.manager.out.Last(20))
	}
	r.manager.peak, r.api.peak = memoryOf(sys.manager.pid()).peak, memoryOf(cp.apiserverPID).peak
	if r.writes, err = writes(sys.metrics); err != nil {
		b.Fatal(err)
	}
	all, err := scrape(sys.metrics, "rest_client_requests_total", "")
	if err != nil {
		b.Fatal(err)
	}
	r.requests = int(all)
	r.firstPages = yt.Requests(fake.KindBrowse) + yt.Requests(fake.KindPlaylistPage) + yt.Requests(fake.KindChannelPage)
	r.continuations = yt.Requests(fake.KindContinuation)
	created, succeeded, most, wrong := children.result(began, n)
	r.created, r.succeeded, r.mostInFlight = created, succeeded, most
	wrong = append(wrong, checkChildren(ctx, cp.admin, pl, fake.IDs(fake.ManyVideos("bench", n)))...)
	if len(wrong) > 0 {
		b.Fatalf("the channel's children are wrong:\n%s", strings.Join(wrong, "\n"))
	}
	return r
}

// waitPlaylist reads the playlist every 100 ms until its status counts
// every child Succeeded with its sync done, and returns when the listing
// was first seen answered and when that was, from began.
func waitPlaylist(ctx context.Context, c client.Client, pl *v1alpha1.YouTubePlaylist, began time.Time, children *childWatch, manager *process, n int) (listing, done time.Duration, err error) {
	key := client.ObjectKeyFromObject(pl)
	for {
		if err := c.Get(ctx, key, pl); err != nil {
			return listing, 0, err
		}
		st := &pl.Status
		if l := st.Listing; listing == 0 && l != nil && l.Sync == st.Sync && l.Reason == "" {
			listing = time.Since(began)
		}
		if meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionFailed) {
			return listing, 0, fmt.Errorf("playlist Failed: %+v", st)
		}
		if int(st.Children.Succeeded) == n && playlistSynced(pl) {
			return listing, time.Since(began), nil
		}
		if failed := children.failures(); len(failed) > 0 {
			return listing, 0, errors.New(strings.Join(failed, "\n"))
		}
		select {
		case <-ctx.Done():
			return listing, 0, fmt.Errorf("playlist not done: %w; status %+v", ctx.Err(), *st)
		case <-manager.exited:
			return listing, 0, errors.New("ytx manager exited")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// playlistSynced: the status describes the spec, and the last sync asked
// for has made all its children.
func playlistSynced(pl *v1alpha1.YouTubePlaylist) bool {
	st := &pl.Status
	return st.ObservedGeneration == pl.Generation && st.SyncedSync > 0 && st.SyncedSync == st.Sync &&
		meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionSynced)
}

// checkChildren lists the playlist's children as a user would (by its
// label) and says what is wrong: the listing's count, a video of the
// channel without its child, a child of no video of it, one not Succeeded.
func checkChildren(ctx context.Context, c client.Client, pl *v1alpha1.YouTubePlaylist, videos []string) []string {
	var wrong []string
	if l := pl.Status.Listing; l == nil || l.Videos != int32(len(videos)) || l.Truncated {
		wrong = append(wrong, fmt.Sprintf("listing %+v: want %d videos, not truncated", l, len(videos)))
	}
	var list v1alpha1.YouTubeExtractionList
	if err := c.List(ctx, &list, client.InNamespace(pl.Namespace), client.MatchingLabels{playlist.LabelPlaylist: pl.Name}); err != nil {
		return append(wrong, err.Error())
	}
	want := map[string]bool{}
	for _, id := range videos {
		want[id] = true
	}
	for _, x := range list.Items {
		id := x.Annotations[playlist.AnnotationVideoID]
		switch {
		case !want[id]:
			wrong = append(wrong, fmt.Sprintf("%s: video %q is not the channel's, or has two children", x.Name, id))
		case x.Status.Phase != v1alpha1.PhaseSucceeded:
			wrong = append(wrong, fmt.Sprintf("%s (video %s): %s, not Succeeded", x.Name, id, x.Status.Phase))
		}
		delete(want, id)
	}
	var missing []string
	for id := range want {
		missing = append(missing, id)
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		wrong = append(wrong, fmt.Sprintf("%d videos have no child: %s", len(missing), strings.Join(missing[:min(10, len(missing))], " ")))
	}
	return wrong
}

// childWatch follows the extractions of a namespace through a watch: when
// each is first seen, each video's UIDs, and how many are Queued or
// Running after each change, which the watch delivers in the order etcd
// made them.
type childWatch struct {
	mu       sync.Mutex
	phase    map[string]v1alpha1.Phase // by name
	firstAt  []time.Time               // when each name was first seen
	doneAt   []time.Time               // when each was first seen Succeeded
	uids     map[string][]types.UID    // by video ID
	inFlight map[string]bool
	most     int
	wrong    []string
	cancel   context.CancelFunc
	done     chan struct{}
}

// watchChildren starts watching ns; it returns once the watch is
// established, so that no child is missed.
func watchChildren(ctx context.Context, c client.WithWatch, ns string) (*childWatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &childWatch{phase: map[string]v1alpha1.Phase{}, uids: map[string][]types.UID{}, inFlight: map[string]bool{}, cancel: cancel, done: make(chan struct{})}
	var list v1alpha1.YouTubeExtractionList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		cancel()
		return nil, err
	}
	open := func(rv string) (watch.Interface, error) {
		return c.Watch(ctx, &v1alpha1.YouTubeExtractionList{}, client.InNamespace(ns),
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
	}
	wi, err := open(list.ResourceVersion)
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		defer close(w.done)
		rv := list.ResourceVersion
		for ctx.Err() == nil {
			for ev := range wi.ResultChan() {
				if x, ok := ev.Object.(*v1alpha1.YouTubeExtraction); ok {
					rv = x.ResourceVersion
					if ev.Type != watch.Bookmark {
						w.record(ev.Type, x)
					}
				}
			}
			// The API server ended it: open it again from rv.
			for wi, err = open(rv); err != nil && ctx.Err() == nil; wi, err = open(rv) {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	return w, nil
}

func (w *childWatch) record(typ watch.EventType, x *v1alpha1.YouTubeExtraction) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if typ == watch.Deleted {
		w.wrong = append(w.wrong, fmt.Sprintf("%s was deleted during the run", x.Name))
		delete(w.inFlight, x.Name)
		return
	}
	old, seen := w.phase[x.Name]
	if !seen {
		w.firstAt = append(w.firstAt, now)
	}
	id := x.Annotations[playlist.AnnotationVideoID]
	if uids := w.uids[id]; !slices.Contains(uids, x.UID) {
		w.uids[id] = append(uids, x.UID)
		if len(uids) > 0 {
			w.wrong = append(w.wrong, fmt.Sprintf("video %s was made twice: %s (UIDs %v)", id, x.Name, w.uids[id]))
		}
	}
	p := x.Status.Phase
	w.phase[x.Name] = p
	if p == v1alpha1.PhaseSucceeded && old != p {
		w.doneAt = append(w.doneAt, now)
	}
	if p == v1alpha1.PhaseFailed && old != p {
		w.wrong = append(w.wrong, fmt.Sprintf("%s (video %s) Failed: %+v", x.Name, id, x.Status.LastFailure))
	}
	if x.DeletionTimestamp.IsZero() && (p == v1alpha1.PhaseQueued || p == v1alpha1.PhaseRunning) {
		w.inFlight[x.Name] = true
	} else {
		delete(w.inFlight, x.Name)
	}
	w.most = max(w.most, len(w.inFlight))
}

func (w *childWatch) failures() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.wrong)
}

// result is, from began, when the n-th child was first seen and when the
// n-th was first seen Succeeded (0 if not), the most
// Queued or Running at once, and what went wrong.
func (w *childWatch) result(began time.Time, n int) (created, succeeded time.Duration, most int, wrong []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.firstAt) >= n {
		created = w.firstAt[n-1].Sub(began)
	}
	if len(w.doneAt) >= n {
		succeeded = w.doneAt[n-1].Sub(began)
	}
	return created, succeeded, w.most, slices.Clone(w.wrong)
}

func (w *childWatch) stop() {
	w.cancel()
	<-w.done
}

// heapSampler scrapes a Go process's heap in use from its /metrics.
type heapSampler struct {
	first, peak int64
	quit, done  chan struct{}
}

func sampleHeap(metrics string, every time.Duration) *heapSampler {
	h := &heapSampler{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for {
			if v, err := scrape(metrics, "go_memstats_heap_inuse_bytes", ""); err == nil {
				if h.first == 0 {
					h.first = int64(v)
				}
				h.peak = max(h.peak, int64(v))
			}
			select {
			case <-h.quit:
				return
			case <-time.After(every):
			}
		}
	}()
	return h
}

// stop returns the first sample and the largest.
func (h *heapSampler) stop() (first, peak int64) {
	close(h.quit)
	<-h.done
	return h.first, h.peak
}

func reportChannel(r channelRun, load string, n int) {
	inFlight := fmt.Sprintf("%d (%d)", r.mostInFlight, controllers.DefaultMaxInFlightPerNamespace)
	if r.mostInFlight > controllers.DefaultMaxInFlightPerNamespace {
		inFlight += ": over the cap"
	}
	results.row(secChannel, channelColumns, time.Now().UTC().Format("2006-01-02"), commit(), n,
		fmt.Sprintf("%d: %d first, %d continuations", r.firstPages+r.continuations, r.firstPages, r.continuations),
		r.listing, r.created, r.succeeded, r.status, float64(n)/r.succeeded.Seconds(), inFlight,
		fmt.Sprintf("%d, %d (%.1f, %.1f)", r.writes, r.requests, float64(r.writes)/float64(n), float64(r.requests)/float64(n)),
		fmt.Sprintf("%s, %s MiB", cell(mib(r.manager.rss)), cell(mib(r.manager.peak))),
		fmt.Sprintf("%s, %s MiB", cell(mib(r.heap)), cell(mib(r.heapPeak))),
		fmt.Sprintf("%s (%.1f ms)", cell(r.managerCPU), float64(r.managerCPU.Microseconds())/1000/float64(n)),
		fmt.Sprintf("%s, %s MiB", cell(mib(r.api.rss)), cell(mib(r.api.peak))))
	results.note(secChannel, "One YouTubePlaylist of a channel (of as many videos as the row says; `-bench.channel-videos`, 1000 by default, lists the sizes, one run each on a fresh control plane) on the fake YouTube (spec.url https://www.youtube.com/channel/%s, an empty template: metadata only) is applied to `bin/ytx manager` with its defaults "+
		"(--max-in-flight-per-namespace %d, --max-concurrent-reconciles %d, --kube-api-qps %d) and %d `bin/ytx worker --concurrency %d` processes with their defaults otherwise, on Kafka (kfake), against a fresh kube-apiserver and etcd (envtest); "+
		"the fake runs in the benchmark's process and the workers reach it through its CONNECT proxy and TLS (HTTPS_PROXY, SSL_CERT_FILE).",
		benchChannelID, controllers.DefaultMaxInFlightPerNamespace, defaults.reconciles, app.DefaultQPS, benchWorkers, defaults.concurrency)
	results.note(secChannel, "Times are from just before the playlist's create: to the listing, when a read of the playlist every 100 ms first shows status.listing answering its sync; to all children created and to all Succeeded, when a watch of the namespace's extractions first saw the last of the channel's videos' children created, and Succeeded; "+
		"to the status, when the playlist's status.children.succeeded is the channel's size with its sync done (Synced True, syncedSync = sync). Children/s is the size over the time to all Succeeded. "+
		"Listing pages are the fake's listing requests (channel and playlist pages, browse and continuation requests). "+
		"Most Queued + Running is the most children in those phases at once, counted after each change the watch delivers, in etcd's order; the cap is in parentheses. "+
		"The manager's requests are client-go's rest_client_requests_total on its /metrics at the end, since its start: writes (POST, PUT, PATCH, DELETE; events included) and all (GETs, lists and watches too).")
	results.note(secChannel, "Manager RSS is its VmRSS just before the create and its VmHWM at the end; its Go heap in use is go_memstats_heap_inuse_bytes, scraped every 250 ms (the first sample and the largest); the manager's CPU is its user and system time (/proc/<pid>/stat) from just before the create to the end, and per child; the API server's RSS is its VmRSS before and its VmHWM at the end (since its start). "+
		"The run fails when a child fails, is made twice (a second UID for one video) or deleted, or when the children listed by the playlist's label at the end are not one Succeeded child of each video. "+
		"Run alone by `make bench BENCH=Channel BENCH_REPORT=docs/benchmarks.md` (`BENCH_ARGS=-bench.channel-videos=1000,5000` for more sizes), which keeps the report's other sections. %s.",
		strings.Join(machine(), "; "))
	results.note(secChannel, "Load average (1, 5, 15 min) at the start of the %d-video run: %s; at the end: %s.", n, load, loadAverage())
}
