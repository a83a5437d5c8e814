package e2e

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
)

// addVideo adds a normal video with a fresh ID to the fake, so that request
// counts for it belong to one test.
func addVideo(t *testing.T, title string, mutate ...func(*fake.Video)) fake.Video {
	t.Helper()
	v := fake.DefaultVideos()[0]
	v.ID = rand.String(11)
	v.Title = title
	for i := range v.Formats {
		v.Formats[i].Media = nil // synthetic, seeded by the new ID
	}
	for _, f := range mutate {
		f(&v)
	}
	if err := youTube.AddVideo(v); err != nil {
		t.Fatal(err)
	}
	return v
}

// phases records the distinct phases an extraction goes through, in order,
// from a watch that starts before it is created.
func phases(t *testing.T, ns, name string) (stop func() []v1alpha1.Phase) {
	t.Helper()
	w, err := k8s.Watch(t.Context(), &v1alpha1.YouTubeExtractionList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan []v1alpha1.Phase, 1)
	go func() {
		var got []v1alpha1.Phase
		for ev := range w.ResultChan() {
			x, ok := ev.Object.(*v1alpha1.YouTubeExtraction)
			if !ok || x.Name != name || x.Status.Phase == "" {
				continue
			}
			if len(got) == 0 || got[len(got)-1] != x.Status.Phase {
				got = append(got, x.Status.Phase)
			}
			if x.Status.Phase.Finished() {
				break
			}
		}
		seen <- got
	}()
	// stop waits for the finished phase to come through the watch: the
	// test may have read it with a GET before the watch delivered it.
	return func() []v1alpha1.Phase {
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

func TestExtractsMetadataEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{name: "worker-a"})
	var want fake.Video
	for _, v := range catalogue {
		if v.ID == fake.RickrollID {
			want = v
		}
	}

	stop := phases(t, e.ns, "never-gonna")
	e.create("never-gonna", "https://youtu.be/"+fake.RickrollID+"?si=share")
	x := e.waitPhase("never-gonna", v1alpha1.PhaseSucceeded, 30*time.Second)

	if got := stop(); !slices.Equal(got, []v1alpha1.Phase{v1alpha1.PhaseQueued, v1alpha1.PhaseRunning, v1alpha1.PhaseSucceeded}) {
		t.Errorf("phases = %v, want Queued, Running, Succeeded", got)
	}
	md := x.Status.Metadata
	if md == nil {
		t.Fatalf("no metadata in status: %s", describe(x))
	}
	if md.Title != want.Title || md.Author != want.Author || md.ChannelID != want.ChannelID {
		t.Errorf("metadata = %q by %q (%s), want %q by %q (%s)", md.Title, md.Author, md.ChannelID, want.Title, want.Author, want.ChannelID)
	}
	if md.DurationSeconds != int64(want.LengthSeconds) || md.ViewCount != want.ViewCount {
		t.Errorf("duration %d s, views %d; want %d s, %d views", md.DurationSeconds, md.ViewCount, want.LengthSeconds, want.ViewCount)
	}
	if wantDate := want.PublishDate.UTC().Format(time.DateOnly); md.PublishDate != wantDate {
		t.Errorf("publishDate = %q, want %q", md.PublishDate, wantDate)
	}
	if md.ThumbnailURL == "" || !strings.Contains(md.ThumbnailURL, fake.RickrollID) {
		t.Errorf("thumbnailURL = %q", md.ThumbnailURL)
	}
	if x.Status.VideoID != fake.RickrollID || x.Status.Attempts != 1 || x.Status.Worker != "worker-a" || x.Status.ObservedGeneration != 1 {
		t.Errorf("status: %s videoID=%s observedGeneration=%d", describe(x), x.Status.VideoID, x.Status.ObservedGeneration)
	}
	if x.Status.StartTime == nil || x.Status.CompletionTime == nil || x.Status.CompletionTime.Before(x.Status.StartTime) {
		t.Errorf("startTime %v, completionTime %v", x.Status.StartTime, x.Status.CompletionTime)
	}
	checkDescription(t, md, e.fetch(x), want.Description)
	// `kubectl wait --for=condition=Complete` reads this condition.
	if c := meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionComplete); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != 1 {
		t.Errorf("Complete condition = %+v", c)
	}
	for _, reason := range []string{"Queued", "Running", v1alpha1.ReasonSucceeded} {
		e.waitEvent("never-gonna", reason, 10*time.Second)
	}
}

func TestUnplayableVideosFailWithReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{controller: controllers.Options{RetryBackoff: 50 * time.Millisecond}})
	e.startWorker(workerSetup{concurrency: 4})
	cases := []struct {
		name, id, reason, says string
	}{
		{"private", fake.PrivateID, v1alpha1.ReasonLoginRequired, "private"},
		{"age-restricted", fake.AgeRestrictedID, v1alpha1.ReasonLoginRequired, "age"},
		{"age-no-embed", fake.AgeRestrictedNoEmbedID, v1alpha1.ReasonLoginRequired, "age"},
		{"unavailable", fake.UnavailableID, v1alpha1.ReasonVideoUnavailable, "unavailable"},
		{"never-existed", "n0tAv1d3o00", v1alpha1.ReasonVideoUnavailable, "unavailable"},
	}
	for _, c := range cases {
		e.create(c.name, watchURL(c.id))
	}
	for _, c := range cases {
		x := e.waitPhase(c.name, v1alpha1.PhaseFailed, 30*time.Second)
		cond := meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionFailed)
		if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != c.reason {
			t.Errorf("%s: Failed condition = %+v, want reason %s", c.name, cond, c.reason)
			continue
		}
		if !strings.Contains(strings.ToLower(cond.Message), c.says) || !strings.Contains(cond.Message, c.id) {
			t.Errorf("%s: message %q should name the video and say %q", c.name, cond.Message, c.says)
		}
		e.waitEvent(c.name, c.reason, 10*time.Second)
	}
	// `kubectl get extractions` shows each one's reason beside its phase.
	table := e.kubectl("get", "extractions")
	if !strings.Contains(strings.SplitN(table, "\n", 2)[0], "REASON") {
		t.Errorf("`kubectl get extractions` has no REASON column:\n%s", table)
	}
	for _, c := range cases {
		if !regexp.MustCompile(`(?m)^` + c.name + `\s.*\sFailed\s+` + c.reason + `\s`).MatchString(table) {
			t.Errorf("`kubectl get extractions` does not show %s Failed with %s:\n%s", c.name, c.reason, table)
		}
	}
	// Permanent failures are not retried: the attempt count and the number of
	// player requests stay where they are.
	before := map[string]int64{}
	for _, c := range cases {
		before[c.name] = youTube.RequestsFor(fake.KindPlayer, c.id)
	}
	time.Sleep(time.Second)
	for _, c := range cases {
		x := e.get(c.name)
		if x.Status.Attempts != 1 || x.Status.Phase != v1alpha1.PhaseFailed {
			t.Errorf("%s retried: %s", c.name, describe(x))
		}
		if after := youTube.RequestsFor(fake.KindPlayer, c.id); after != before[c.name] {
			t.Errorf("%s: player requests went from %d to %d after failing", c.name, before[c.name], after)
		}
	}
}

func TestTransientFailureIsRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{controller: controllers.Options{RetryBackoff: 100 * time.Millisecond}})
	// kkdai alone: with yt-dlp behind it the attempt would fall back
	// rather than fail, and this is about the manager's retries.
	e.startWorker(workerSetup{resolve: app.ResolverConfig{Resolvers: []string{resolver.KKDAI}}})
	flaky := addVideo(t, "Flaky")
	youTube.FailPlayer(flaky.ID, 503, 1)
	down := addVideo(t, "Down")
	youTube.FailPlayer(down.ID, 503, 100)

	e.create("flaky", watchURL(flaky.ID))
	e.create("down", watchURL(down.ID), func(x *v1alpha1.YouTubeExtraction) {
		x.Spec.Retry = &v1alpha1.RetrySpec{MaxAttempts: 2}
	})

	x := e.waitPhase("flaky", v1alpha1.PhaseSucceeded, 30*time.Second)
	if x.Status.Attempts != 2 || x.Status.LastFailure == nil || x.Status.LastFailure.Attempt != 1 || x.Status.LastFailure.Reason != v1alpha1.ReasonDownloadFailed {
		t.Errorf("flaky: want success on attempt 2 after a DownloadFailed attempt 1; %s lastFailure=%+v", describe(x), x.Status.LastFailure)
	}
	if x.Status.Metadata == nil || x.Status.Metadata.Title != "Flaky" {
		t.Errorf("flaky: metadata %+v", x.Status.Metadata)
	}

	x = e.waitPhase("down", v1alpha1.PhaseFailed, 30*time.Second)
	cond := meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionFailed)
	if x.Status.Attempts != 2 || cond == nil || cond.Reason != v1alpha1.ReasonAttemptsExhausted || !strings.Contains(cond.Message, "503") {
		t.Errorf("down: want AttemptsExhausted after 2 attempts naming the 503; %s", describe(x))
	}
	// lastFailure keeps what went wrong, for a person to read.
	if f := x.Status.LastFailure; f == nil || f.Attempt != 2 || f.Reason != v1alpha1.ReasonDownloadFailed {
		t.Errorf("down: want lastFailure to be attempt 2's DownloadFailed, got %+v", f)
	}
	e.waitEvent("down", v1alpha1.ReasonRetrying, 10*time.Second)
}

func TestSpecChangeRunsAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	first, second := addVideo(t, "First"), addVideo(t, "Second")
	e.create("changing", watchURL(first.ID))
	e.waitPhase("changing", v1alpha1.PhaseSucceeded, 30*time.Second)

	x := e.get("changing")
	x.Spec.URL = watchURL(second.ID)
	if err := k8s.Update(e.ctx(10*time.Second), x); err != nil {
		t.Fatal(err)
	}
	x = e.waitFor("changing", 30*time.Second, "Succeeded for generation 2", func(x *v1alpha1.YouTubeExtraction) bool {
		return x.Status.ObservedGeneration == 2 && x.Status.Phase == v1alpha1.PhaseSucceeded
	})
	if x.Status.VideoID != second.ID || x.Status.Metadata == nil || x.Status.Metadata.Title != "Second" || x.Status.Attempts != 1 {
		t.Errorf("after the spec change: videoID %s, metadata %+v, %s", x.Status.VideoID, x.Status.Metadata, describe(x))
	}
}

func TestTTLDeletesFinishedExtractions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	ttl := int32(1)
	e.create("short-lived", watchURL(fake.ZooID), func(x *v1alpha1.YouTubeExtraction) { x.Spec.TTLSecondsAfterFinished = &ttl })
	e.create("kept", watchURL(fake.ZooID))
	done := e.waitPhase("short-lived", v1alpha1.PhaseSucceeded, 30*time.Second).Status.CompletionTime.Time
	e.waitGone("short-lived", 10*time.Second)
	if gone := time.Since(done); gone < 900*time.Millisecond {
		t.Errorf("deleted %s after completion, before its 1 s TTL", gone)
	}
	e.waitPhase("kept", v1alpha1.PhaseSucceeded, 30*time.Second)
	time.Sleep(1500 * time.Millisecond)
	e.get("kept") // still there: no TTL, no deletion
}

// checkDescription checks that status shows the description's first
// youtube.MaxDescriptionRunes runes at most, and that info.json holds it
// whole.
func checkDescription(t *testing.T, md *v1alpha1.VideoMetadata, got map[v1alpha1.ArtifactKind]stored, whole string) {
	t.Helper()
	if utf8.RuneCountInString(whole) <= youtube.MaxDescriptionRunes {
		t.Fatalf("the video's description has %d runes: too short to show the cap", utf8.RuneCountInString(whole))
	}
	shown, cut := strings.CutSuffix(md.Description, "…")
	if n := utf8.RuneCountInString(md.Description); !cut || n > youtube.MaxDescriptionRunes || !strings.HasPrefix(whole, shown) {
		t.Errorf("status.metadata.description has %d runes (%q), want the description's start, cut with … to at most %d", n, md.Description, youtube.MaxDescriptionRunes)
	}
	raw, err := os.ReadFile(got[v1alpha1.ArtifactInfo].path)
	if err != nil {
		t.Fatalf("info.json: %v", err)
	}
	var info struct {
		Description string `json:"description"`
	}
	if err := json.Unmarshal(raw, &info); err != nil || info.Description != whole {
		t.Errorf("info.json's description (%d runes, %v) is not the whole description (%d runes)", utf8.RuneCountInString(info.Description), err, utf8.RuneCountInString(whole))
	}
}
