package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/download"
	"ytx.dev/ytx/internal/media"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/internal/storage/s3test"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/workers"
)

// addClipVideo adds a video whose formats are real media (the clips).
func addClipVideo(t *testing.T, title string) fake.Video {
	t.Helper()
	return addClipVideoTo(t, youTube, title)
}

// addClipVideoTo adds such a video to the fake srv.
func addClipVideoTo(t *testing.T, srv *fake.Server, title string) fake.Video {
	t.Helper()
	v, err := fake.ClipVideo(rand.String(11), title, clips)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddVideo(v); err != nil {
		t.Fatal(err)
	}
	return v
}

// s3Storage makes a bucket of its own on the S3 server and returns its
// --storage URL.
func s3Storage(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	u, err := s3.CreateBucket(ctx, "ytx-"+rand.String(8), "media")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// stored is one artifact as read back from storage.
type stored struct {
	v1alpha1.Artifact
	path  string // a local copy, for ffprobe
	probe *media.Probe
}

// fetch reads every artifact of x back from storage and checks what a user
// would: the file is where status says, and its size and sha256 are those
// status lists.
func (e *env) fetch(x *v1alpha1.YouTubeExtraction) map[v1alpha1.ArtifactKind]stored {
	e.t.Helper()
	out := map[v1alpha1.ArtifactKind]stored{}
	for _, a := range x.Status.Artifacts {
		key := resultKey(x, path.Base(a.URI))
		if got := e.store.URI(key); got != a.URI {
			e.t.Errorf("%s artifact at %s, want %s", a.Kind, a.URI, got)
		}
		r, err := e.store.Open(e.ctx(30*time.Second), key)
		if err != nil {
			e.t.Fatalf("%s artifact %s: %v", a.Kind, a.URI, err)
		}
		local := filepath.Join(e.t.TempDir(), path.Base(a.URI))
		f, err := os.Create(local)
		if err != nil {
			e.t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, h), r)
		r.Close()
		f.Close()
		if err != nil {
			e.t.Fatal(err)
		}
		if sum := hex.EncodeToString(h.Sum(nil)); n != a.SizeBytes || sum != a.SHA256 {
			e.t.Errorf("%s artifact %s holds %d bytes with sha256 %s; status says %d bytes, %s", a.Kind, a.URI, n, sum, a.SizeBytes, a.SHA256)
		}
		s := stored{Artifact: a, path: local}
		if a.Kind == v1alpha1.ArtifactAudio || a.Kind == v1alpha1.ArtifactVideo {
			if s.probe, err = media.ProbeFile(e.ctx(30*time.Second), "", local); err != nil {
				e.t.Fatalf("ffprobe %s: %v", a.URI, err)
			}
		}
		out[a.Kind] = s
	}
	return out
}

// resultKey is where, by the storage layout, the attempt that x's status
// names stored file.
func resultKey(x *v1alpha1.YouTubeExtraction, file string) string {
	a := storage.Attempt{Generation: x.Status.ObservedGeneration, Attempt: x.Status.Attempts}
	return storage.AttemptKey(x.Namespace, x.Name, string(x.UID), a, file)
}

// keys lists what storage holds for every extraction that was called name.
func (e *env) keys(name string) []string {
	e.t.Helper()
	keys, err := e.store.List(e.ctx(30*time.Second), storage.NamePrefix(e.ns, name))
	if err != nil {
		e.t.Fatal(err)
	}
	return keys
}

func streams(p *media.Probe, typ string) []media.Stream {
	var out []media.Stream
	for _, s := range p.Streams {
		if s.CodecType == typ && !s.AttachedPic {
			out = append(out, s)
		}
	}
	return out
}

func hasCover(p *media.Probe) bool {
	return slices.ContainsFunc(p.Streams, func(s media.Stream) bool { return s.AttachedPic })
}

// checkDuration: the file lasts as long as the source, within 0.1 s.
func checkDuration(t *testing.T, what string, p *media.Probe) {
	t.Helper()
	if d := p.Duration - clips.Duration.Seconds(); math.Abs(d) > 0.1 {
		t.Errorf("%s lasts %.3fs, the source %.3fs", what, p.Duration, clips.Duration.Seconds())
	}
}

// Every spec shape, on both storage backends: the files exist where status
// says, their sizes and digests match, and ffprobe finds what was asked.
func TestMediaArtifacts(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"file", "s3"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			s := setup{}
			if backend == "s3" {
				s.storage = s3Storage(t)
			}
			e := newEnv(t, s)
			e.startWorker(workerSetup{concurrency: 4})
			v := addClipVideo(t, "Clip for "+backend)
			audio := func(f v1alpha1.AudioFormat) func(*v1alpha1.YouTubeExtraction) {
				return func(x *v1alpha1.YouTubeExtraction) { x.Spec.Audio = &v1alpha1.AudioSpec{Format: f} }
			}
			video := func(h int32) func(*v1alpha1.YouTubeExtraction) {
				return func(x *v1alpha1.YouTubeExtraction) { x.Spec.Video = &v1alpha1.VideoSpec{MaxHeight: h} }
			}
			thumb := func(x *v1alpha1.YouTubeExtraction) { x.Spec.Thumbnail = true }
			cases := []struct {
				name   string
				mutate func(*v1alpha1.YouTubeExtraction)
				check  func(t *testing.T, got map[v1alpha1.ArtifactKind]stored)
			}{
				{"m4a", audio(v1alpha1.AudioM4A), func(t *testing.T, got map[v1alpha1.ArtifactKind]stored) {
					checkAudio(t, got, "audio/mp4", "aac", true, v.Title)
				}},
				{"opus", audio(v1alpha1.AudioOpus), func(t *testing.T, got map[v1alpha1.ArtifactKind]stored) {
					checkAudio(t, got, "audio/webm", "opus", false, v.Title)
				}},
				{"mp3", audio(v1alpha1.AudioMP3), func(t *testing.T, got map[v1alpha1.ArtifactKind]stored) {
					checkAudio(t, got, "audio/mpeg", "mp3", true, v.Title)
				}},
				{"video-360", video(360), func(t *testing.T, got map[v1alpha1.ArtifactKind]stored) {
					checkVideo(t, got, 360)
				}},
				{"video-720", video(720), func(t *testing.T, got map[v1alpha1.ArtifactKind]stored) {
					checkVideo(t, got, 720)
				}},
				{"thumbnail", thumb, func(t *testing.T, got map[v1alpha1.ArtifactKind]stored) {
					a, ok := got[v1alpha1.ArtifactThumbnail]
					if !ok || a.MediaType != "image/jpeg" {
						t.Fatalf("no jpeg thumbnail: %+v", got)
					}
					want, _ := os.ReadFile(clips.Thumbnail)
					if have, _ := os.ReadFile(a.path); !slices.Equal(have, want) {
						t.Errorf("the thumbnail is not the largest one YouTube serves (%d bytes, want %d)", len(have), len(want))
					}
				}},
			}
			for _, c := range cases {
				e.create(c.name, watchURL(v.ID), c.mutate)
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					x := e.waitPhase(c.name, v1alpha1.PhaseSucceeded, 60*time.Second)
					got := e.fetch(x)
					checkInfo(t, got, v)
					c.check(t, got)
					if p := x.Status.Progress; p == nil || p.Percent != 100 || (p.BytesTotal > 0 && p.BytesDone != p.BytesTotal) {
						t.Errorf("progress at the end: %+v", p)
					}
				})
			}
		})
	}
}

func checkInfo(t *testing.T, got map[v1alpha1.ArtifactKind]stored, v fake.Video) {
	t.Helper()
	a, ok := got[v1alpha1.ArtifactInfo]
	if !ok || a.MediaType != "application/json" {
		t.Fatalf("no info.json artifact: %+v", got)
	}
	raw, _ := os.ReadFile(a.path)
	var info struct {
		ID      string           `json:"id"`
		Title   string           `json:"title"`
		Formats []map[string]any `json:"formats"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatalf("info.json: %v", err)
	}
	if info.ID != v.ID || info.Title != v.Title || len(info.Formats) != len(v.Formats) {
		t.Errorf("info.json has id %q title %q and %d formats; want %q, %q, %d", info.ID, info.Title, len(info.Formats), v.ID, v.Title, len(v.Formats))
	}
}

func checkAudio(t *testing.T, got map[v1alpha1.ArtifactKind]stored, mediaType, codec string, cover bool, title string) {
	t.Helper()
	a, ok := got[v1alpha1.ArtifactAudio]
	if !ok {
		t.Fatalf("no audio artifact: %+v", got)
	}
	if a.MediaType != mediaType {
		t.Errorf("audio media type %s, want %s", a.MediaType, mediaType)
	}
	if s := streams(a.probe, "audio"); len(s) != 1 || s[0].CodecName != codec || len(streams(a.probe, "video")) != 0 {
		t.Errorf("audio file has %v, want one %s stream", a.probe.Codecs(), codec)
	}
	checkDuration(t, "the audio", a.probe)
	if a.probe.Tags["title"] != title || a.probe.Tags["artist"] == "" {
		t.Errorf("audio tags %v, want the title %q and the channel as artist", a.probe.Tags, title)
	}
	if hasCover(a.probe) != cover {
		t.Errorf("album art embedded: %v, want %v (%v)", hasCover(a.probe), cover, a.probe.Codecs())
	}
}

func checkVideo(t *testing.T, got map[v1alpha1.ArtifactKind]stored, height int) {
	t.Helper()
	a, ok := got[v1alpha1.ArtifactVideo]
	if !ok || a.MediaType != "video/mp4" {
		t.Fatalf("no mp4 video artifact: %+v", got)
	}
	vs, as := streams(a.probe, "video"), streams(a.probe, "audio")
	if len(vs) != 1 || len(as) != 1 || vs[0].CodecName != "h264" || as[0].CodecName != "aac" {
		t.Fatalf("video file has %v, want h264 and aac", a.probe.Codecs())
	}
	if vs[0].Height != height {
		t.Errorf("video is %dp, want %dp", vs[0].Height, height)
	}
	checkDuration(t, "the video", a.probe)
}

// "A progressive (muxed) format is used when it is as good": at 360p the
// fake offers itag 18 (360p with audio), so nothing else is fetched.
func TestProgressiveFormatWhenAsGood(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	v := addClipVideo(t, "Progressive")
	e.create("p360", watchURL(v.ID), func(x *v1alpha1.YouTubeExtraction) { x.Spec.Video = &v1alpha1.VideoSpec{MaxHeight: 480} })
	e.waitPhase("p360", v1alpha1.PhaseSucceeded, 60*time.Second)
	itags := map[int]bool{}
	for _, r := range youTube.RequestLog() {
		if r.Kind == fake.KindMedia && r.VideoID == v.ID {
			itags[r.Itag] = true
		}
	}
	if !itags[18] || len(itags) != 1 {
		t.Errorf("fetched itags %v, want only the progressive 18", itags)
	}
}

func TestNoVideoUnderMaxHeightFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	v := addClipVideo(t, "Too tall")
	e.create("tiny", watchURL(v.ID), func(x *v1alpha1.YouTubeExtraction) { x.Spec.Video = &v1alpha1.VideoSpec{MaxHeight: 144} })
	x := e.waitPhase("tiny", v1alpha1.PhaseFailed, 60*time.Second)
	f := x.Status.LastFailure
	if f == nil || f.Reason != v1alpha1.ReasonFormatUnavailable || !strings.Contains(f.Message, "360p") || !strings.Contains(f.Message, "720p") {
		t.Fatalf("want FormatUnavailable naming the heights there are: %s", describe(x))
	}
	if x.Status.Attempts != 1 {
		t.Errorf("a missing format is not worth a retry: %d attempts", x.Status.Attempts)
	}
}

// One chunk fails mid-stream with a 500: the download retries that chunk
// and the stored file is byte for byte what an undisturbed run stores.
func TestChunkFailureIsRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	// Small chunks, so the stream takes several requests.
	e.startWorker(workerSetup{download: download.Options{ChunkSize: 8 << 10, Parallel: 2}})
	v := addClipVideo(t, "Flaky")
	song := func(x *v1alpha1.YouTubeExtraction) { x.Spec.Audio = &v1alpha1.AudioSpec{Format: v1alpha1.AudioM4A} }

	e.create("calm", watchURL(v.ID), song)
	calm := e.fetch(e.waitPhase("calm", v1alpha1.PhaseSucceeded, 60*time.Second))[v1alpha1.ArtifactAudio]

	youTube.Inject(fake.Fault{Kind: fake.KindMedia, VideoID: v.ID, Itag: 140, Times: 2}) // let two chunks through
	youTube.Inject(fake.Fault{Kind: fake.KindMedia, VideoID: v.ID, Itag: 140, Status: 500, Times: 1})
	e.create("stormy", watchURL(v.ID), song)
	x := e.waitPhase("stormy", v1alpha1.PhaseSucceeded, 60*time.Second)
	stormy := e.fetch(x)[v1alpha1.ArtifactAudio]

	if x.Status.Attempts != 1 {
		t.Errorf("a chunk retry must not cost an attempt: %s", describe(x))
	}
	// Both runs asked for every range once; the stormy one asked for one
	// range twice.
	ranges := map[string]int{}
	for _, r := range youTube.RequestLog() {
		if r.Kind == fake.KindMedia && r.VideoID == v.ID && r.Itag == 140 {
			ranges[r.Range]++
		}
	}
	retried := 0
	for _, n := range ranges {
		retried += n - 2
	}
	if retried != 1 || len(ranges) < 3 {
		t.Errorf("want one retried range among several (requests per range over both runs): %v", ranges)
	}
	if stormy.SHA256 != calm.SHA256 || stormy.SizeBytes != calm.SizeBytes {
		t.Errorf("after a retried chunk the audio is %d bytes %s; undisturbed it is %d bytes %s", stormy.SizeBytes, stormy.SHA256, calm.SizeBytes, calm.SHA256)
	}
}

func TestPersistentForbiddenFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{download: download.Options{Backoff: fastBackoff}})
	v := addClipVideo(t, "Region locked")
	youTube.FailMedia(v.ID, 0, 403, fake.Forever)
	e.create("locked", watchURL(v.ID), func(x *v1alpha1.YouTubeExtraction) { x.Spec.Audio = &v1alpha1.AudioSpec{Format: v1alpha1.AudioM4A} })
	x := e.waitPhase("locked", v1alpha1.PhaseFailed, 60*time.Second)
	if f := x.Status.LastFailure; f == nil || f.Reason != v1alpha1.ReasonForbidden {
		t.Fatalf("want Failed with Forbidden: %s", describe(x))
	}
	if c := failedCondition(x); c == nil || c.Reason != v1alpha1.ReasonForbidden {
		t.Errorf("the Failed condition should carry Forbidden: %+v", c)
	}
}

func TestSizeCapFailsTheJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	const limit = 10_000
	w := workerSetup{}
	w.options.MaxArtifactBytes = limit
	e.startWorker(w)
	v := addClipVideo(t, "Too big")
	e.create("big", watchURL(v.ID), func(x *v1alpha1.YouTubeExtraction) { x.Spec.Video = &v1alpha1.VideoSpec{MaxHeight: 720} })
	x := e.waitPhase("big", v1alpha1.PhaseFailed, 60*time.Second)
	f := x.Status.LastFailure
	if f == nil || f.Reason != v1alpha1.ReasonArtifactTooLarge || !strings.Contains(f.Message, fmt.Sprint(limit)) || !strings.Contains(f.Message, "--max-artifact-bytes") {
		t.Fatalf("want ArtifactTooLarge naming the cap %d and the flag: %s", limit, describe(x))
	}
	if n := youTube.RequestsFor(fake.KindMedia, v.ID); n != 0 {
		t.Errorf("%d media requests; a stream known to be too large should not be fetched", n)
	}
}

// Deleting a Succeeded resource removes its files under Delete and keeps
// them under Retain.
func TestArtifactPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	v := addClipVideo(t, "Policy")
	for _, policy := range []v1alpha1.ArtifactPolicy{v1alpha1.ArtifactPolicyDelete, v1alpha1.ArtifactPolicyRetain} {
		name := strings.ToLower(string(policy))
		e.create(name, watchURL(v.ID), func(x *v1alpha1.YouTubeExtraction) {
			x.Spec.ArtifactPolicy = policy
			x.Spec.Thumbnail = true
		})
		x := e.waitPhase(name, v1alpha1.PhaseSucceeded, 60*time.Second)
		if len(e.keys(name)) != len(x.Status.Artifacts) {
			t.Fatalf("%s: storage holds %v, status lists %d files", name, e.keys(name), len(x.Status.Artifacts))
		}
		if err := k8s.Delete(e.ctx(10*time.Second), x); err != nil {
			t.Fatal(err)
		}
		e.waitGone(name, 30*time.Second)
	}
	if keys := e.keys("delete"); len(keys) != 0 {
		t.Errorf("artifactPolicy Delete left %v", keys)
	}
	if keys := e.keys("retain"); len(keys) != 2 {
		t.Errorf("artifactPolicy Retain should keep info.json and the thumbnail: %v", keys)
	}
}

// Storage that is gone must not block deletion forever.
func TestDeletionIsNotBlockedByLostStorage(t *testing.T) {
	t.Parallel()
	own, err := s3Launch(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	u, err := own.CreateBucket(ctx, "ytx-"+rand.String(8), "")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, setup{storage: u, controller: controllersCleanup(2 * time.Second)})
	e.startWorker(workerSetup{})
	e.create("orphan", watchURL(fake.ZooID))
	x := e.waitPhase("orphan", v1alpha1.PhaseSucceeded, 60*time.Second)
	own.Close() //nolint:errcheck
	if err := k8s.Delete(e.ctx(10*time.Second), x); err != nil {
		t.Fatal(err)
	}
	e.waitGone("orphan", 60*time.Second)
	ev := e.waitEvent("orphan", "ArtifactsNotDeleted", 10*time.Second)
	if !strings.Contains(ev.Note, u[:strings.Index(u, "?")]) && !strings.Contains(ev.Note, "s3://") {
		t.Errorf("the event should say where the files are: %q", ev.Note)
	}
}

// A spec change from m4a to mp3 leaves one set of files, not two.
func TestSpecChangeReplacesFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	v := addClipVideo(t, "Changing")
	e.create("song", watchURL(v.ID), func(x *v1alpha1.YouTubeExtraction) { x.Spec.Audio = &v1alpha1.AudioSpec{Format: v1alpha1.AudioM4A} })
	x := e.waitPhase("song", v1alpha1.PhaseSucceeded, 60*time.Second)
	x.Spec.Audio.Format = v1alpha1.AudioMP3
	if err := k8s.Update(e.ctx(10*time.Second), x); err != nil {
		t.Fatal(err)
	}
	x = e.waitFor("song", 60*time.Second, "generation 2 Succeeded", func(x *v1alpha1.YouTubeExtraction) bool {
		return x.Status.ObservedGeneration == 2 && x.Status.Phase == v1alpha1.PhaseSucceeded
	})
	want := []string{resultKey(x, "audio.mp3"), resultKey(x, "info.json")}
	if got := e.keys("song"); !slices.Equal(got, want) {
		t.Errorf("storage holds %v, want %v", got, want)
	}
}

// kubectl get extractions shows the progress column moving while bytes flow.
func TestProgressMoves(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	v := addClipVideo(t, "Slow network")
	var total int64
	for _, f := range v.Formats {
		if f.Itag == 136 || f.Itag == 140 {
			total += f.ContentLength
		}
	}
	youTube.Throttle(v.ID, total/3) // about three seconds
	seen := watchProgress(t, e.ns, "slow")
	e.create("slow", watchURL(v.ID), func(x *v1alpha1.YouTubeExtraction) { x.Spec.Video = &v1alpha1.VideoSpec{MaxHeight: 720} })
	e.waitPhase("slow", v1alpha1.PhaseSucceeded, 60*time.Second)
	got := seen()
	between := 0
	for i, p := range got {
		if p > 0 && p < 100 {
			between++
		}
		if i > 0 && p < got[i-1] {
			t.Errorf("progress went back: %v", got)
		}
	}
	if between < 2 || got[len(got)-1] != 100 {
		t.Errorf("progress seen %v; want it to move through at least two values between 0 and 100 and end at 100", got)
	}
}

// fastBackoff keeps chunk retries short in tests that exhaust them.
var fastBackoff = wait.Backoff{Duration: 20 * time.Millisecond, Factor: 2, Steps: 3}

func failedCondition(x *v1alpha1.YouTubeExtraction) *metav1.Condition {
	return meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionFailed)
}

func controllersCleanup(timeout time.Duration) controllers.Options {
	return controllers.Options{CleanupTimeout: timeout}
}

// s3Launch starts an S3 server of the test's own, to stop it at will. It
// takes the shared server's keys, which the environment holds.
func s3Launch(t *testing.T) (*s3test.Server, error) {
	srv, err := s3test.LaunchWithKeys(s3.AccessKey, s3.SecretKey)
	if err == nil {
		t.Cleanup(func() { srv.Close() }) //nolint:errcheck
	}
	return srv, err
}

// watchProgress records status.progress.percent of an extraction each time
// it changes, from a watch that starts before it is created.
func watchProgress(t *testing.T, ns, name string) (stop func() []int32) {
	t.Helper()
	w, err := k8s.Watch(t.Context(), &v1alpha1.YouTubeExtractionList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan []int32, 1)
	go func() {
		var got []int32
		for ev := range w.ResultChan() {
			x, ok := ev.Object.(*v1alpha1.YouTubeExtraction)
			if !ok || x.Name != name || x.Status.Progress == nil {
				continue
			}
			if p := x.Status.Progress.Percent; len(got) == 0 || got[len(got)-1] != p {
				got = append(got, p)
			}
			if x.Status.Phase.Finished() {
				break
			}
		}
		seen <- got
	}()
	return func() []int32 {
		defer w.Stop()
		select {
		case got := <-seen:
			return got
		case <-time.After(10 * time.Second):
			w.Stop()
			return <-seen
		}
	}
}

// Deleting a resource while its worker downloads: the worker stops
// downloading (the fake stops sending its media within a bound, and the
// worker says it abandons the job), and no file of the abandoned attempt
// is left behind.
func TestDeletedWhileRunningLeavesNoFiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	v := addClipVideo(t, "Deleted mid-download")
	youTube.Throttle(v.ID, 20_000)
	defer youTube.Throttle(v.ID, 0)
	abandoned := make(chan string, 1)
	// funcr writes "job"="ns/gone (generation G, attempt A)".
	job := fmt.Sprintf(`%q="%s/gone (`, workers.KeyJob, e.ns)
	watchLog(t, func(line string) {
		for _, msg := range []string{workers.LogAbandoned, workers.LogAbandonedAtEnd} {
			if strings.Contains(line, fmt.Sprintf("%q=%q", "msg", msg)) && strings.Contains(line, job) {
				select {
				case abandoned <- line:
				default:
				}
			}
		}
	})
	e.create("gone", watchURL(v.ID), func(x *v1alpha1.YouTubeExtraction) {
		x.Spec.Video = &v1alpha1.VideoSpec{MaxHeight: 720}
		x.Spec.Thumbnail = true
	})
	x := e.waitFor("gone", 60*time.Second, "bytes flowing", func(x *v1alpha1.YouTubeExtraction) bool {
		return x.Status.Phase == v1alpha1.PhaseRunning && x.Status.Progress != nil && x.Status.Progress.BytesDone > 0
	})
	if len(e.keys("gone")) == 0 {
		t.Fatal("want the early files (info.json, thumbnail) stored before the download, to see them removed")
	}
	if youTube.MediaBytesFor(v.ID) == 0 {
		t.Fatal("the fake sent no media before the delete: nothing to see stop")
	}
	deleted := time.Now()
	if err := k8s.Delete(e.ctx(10*time.Second), x); err != nil {
		t.Fatal(err)
	}
	// The worker must notice on its own, within a status interval (200 ms
	// here), and stop the download rather than finish it. At 20 kB/s per
	// request the fake would send on for many seconds; once the worker has
	// dropped its connections, the count of media bytes sent stays put.
	const still, within = time.Second, 5 * time.Second
	stoppedBy, sent, ok := stopsGrowing(func() int64 { return youTube.MediaBytesFor(v.ID) }, still, within)
	if !ok {
		t.Fatalf("the fake still sent %s's media %s after the delete (%d bytes so far): the worker did not stop downloading", v.ID, within, sent)
	}
	t.Logf("media stopped %s after the delete, at %d of %d bytes", stoppedBy.Sub(deleted).Round(10*time.Millisecond), sent, x.Status.Progress.BytesTotal)
	if total := x.Status.Progress.BytesTotal; total <= 0 || sent >= total {
		t.Errorf("the fake sent %d bytes of streams of %d: the download was not cut short, it ended", sent, total)
	}
	select {
	case <-abandoned:
	case <-time.After(10 * time.Second):
		t.Errorf("the worker logged no %q for %s/gone", workers.LogAbandoned, e.ns)
	}
	e.waitGone("gone", 60*time.Second)
	if keys := e.keys("gone"); len(keys) != 0 {
		t.Errorf("files left after deletion: %v", keys)
	}
	if now := youTube.MediaBytesFor(v.ID); now != sent {
		t.Errorf("the fake sent %d more bytes of %s's media after the download had stopped", now-sent, v.ID)
	}
}

// stopsGrowing polls count until it has not changed for still, and returns
// when it last changed and its value then; ok is false when that has not
// happened within limit.
func stopsGrowing(count func() int64, still, limit time.Duration) (since time.Time, n int64, ok bool) {
	deadline := time.Now().Add(limit)
	n, since = count(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if m := count(); m != n {
			n, since = m, time.Now()
		}
		if time.Since(since) >= still {
			return since, n, true
		}
	}
	return since, n, false
}
