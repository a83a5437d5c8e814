package workers

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/status"
	"ytx.dev/ytx/internal/storage"
)

// key is where attempt (generation, attempt) of "a" stores file.
func key(generation int64, attempt int32, file string) string {
	return storage.AttemptKey(ns, "a", "uid-a", storage.Attempt{Generation: generation, Attempt: attempt}, file)
}

// put stores a small file under key, last modified at mtime (zero: now).
func (h *harness) put(key string, mtime time.Time) {
	h.t.Helper()
	if _, err := h.store.Put(context.Background(), key, strings.NewReader("x"), storage.PutOptions{Size: 1}); err != nil {
		h.t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(filepath.Join(h.root, filepath.FromSlash(key)), mtime, mtime); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) wantFiles(want ...string) {
	h.t.Helper()
	got, err := h.store.List(context.Background(), "")
	if err != nil {
		h.t.Fatal(err)
	}
	if want = slices.Sorted(slices.Values(want)); !slices.Equal(got, want) {
		h.t.Errorf("files %q, want %q", got, want)
	}
}

// claimAttempt claims attempt n of "a", which the resource is at.
func (h *harness) claimAttempt(n int32) *claim {
	h.t.Helper()
	c, drop, err := h.w.claim(context.Background(), msg(n))
	if err != nil || drop != "" || c == nil {
		h.t.Fatalf("claim: %v, drop %q", err, drop)
	}
	return c
}

// listing makes status list the files at keys, as a finished attempt's.
func (h *harness) listing(keys ...string) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) {
		x.Status.Artifacts = nil
		for _, k := range keys {
			x.Status.Artifacts = append(x.Status.Artifacts, v1alpha1.Artifact{Kind: v1alpha1.ArtifactInfo, URI: h.store.URI(k)})
		}
	}
}

// --- store and prune ---

// An attempt writes only under keys of its own: a stale worker can never
// write over a newer attempt's file, whatever it was paused through.
func TestStoreWritesUnderTheAttemptsOwnKeys(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(2), queued))
	c := h.claimAttempt(2)
	r := &run{w: h.w, t: newTask(c)}
	if err := r.store(context.Background(), v1alpha1.ArtifactInfo, infoFile, strings.NewReader("{}"), 2); err != nil {
		t.Fatal(err)
	}
	h.wantFiles(key(1, 2, "info.json"))
	if a := r.t.artifacts; len(a) != 1 || a[0].URI != h.store.URI(key(1, 2, "info.json")) {
		t.Errorf("artifacts %+v, want the attempt's info.json", a)
	}
}

// What earlier attempts and generations stored goes, and what this attempt
// does not make (a handed-back attempt's leftovers); a later attempt's
// keys, another extraction's files and keys the layout did not make stay.
func TestPruneKeepsOnlyThisAttemptsFilesOfThisExtraction(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(2), queued))
	c := h.claimAttempt(2)
	other := storage.AttemptKey(ns, "a", "uid-of-an-earlier-a", storage.Attempt{Generation: 1, Attempt: 1}, "audio.m4a")
	for _, k := range []string{
		key(1, 1, "info.json"), key(1, 1, "audio.m4a"),
		key(1, 2, "info.json"), key(1, 2, "thumbnail.jpg"),
		key(1, 3, "info.json"),
		other,
		storage.ExtractionPrefix(ns, "a", "uid-a") + "notes.txt",
	} {
		h.put(k, time.Time{})
	}
	r := &run{w: h.w, t: newTask(c)}
	if err := r.prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.wantFiles(key(1, 2, "info.json"), key(1, 3, "info.json"), other, storage.ExtractionPrefix(ns, "a", "uid-a")+"notes.txt")
}

// A new generation replaces what this extraction stored under the earlier
// layout (before an upgrade of ytx); a file an earlier extraction of the
// same name retained there stays.
func TestPruneReplacesTheExtractionsFilesOfTheEarlierLayout(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(2), queued))
	c := h.claimAttempt(2)
	h.put(ns+"/a/info.json", base.Add(time.Minute))  // stored by this extraction
	h.put(ns+"/a/audio.m4a", base.Add(-time.Minute)) // by an earlier "a", retained
	r := &run{w: h.w, t: newTask(c)}
	if err := r.prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.wantFiles(ns + "/a/audio.m4a")
}

// The first attempt of the first generation has nothing of the earlier
// layout to replace: it makes no reads for it.
func TestPruneOfTheFirstAttemptLeavesTheEarlierLayoutAlone(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	c := h.claimed()
	h.put(ns+"/a/info.json", base.Add(time.Minute))
	r := &run{w: h.w, t: newTask(c)}
	if err := r.prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.wantFiles(ns + "/a/info.json")
}

// --- abandon ---

// A stale worker that wakes after a newer attempt took over removes what
// its own attempt stored; the newer attempt's files stay.
func TestALostAttemptRemovesWhatItStored(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	c := h.claimed()
	h.put(key(1, 1, "info.json"), time.Time{})
	h.put(key(1, 1, "audio.m4a"), time.Time{})
	h.put(key(1, 2, "info.json"), time.Time{})
	h.meanwhile(func(x *v1alpha1.YouTubeExtraction) {
		timedOut(x)
		status.NextAttempt(x, 2)
		queued(x)
		claimedBy("w-2")(x)
		status.Succeeded(x, "done", metav1.NewTime(base))
		h.listing(key(1, 2, "info.json"))(x)
	})
	if err := h.w.end(context.Background(), c, newTask(c), outcome{}, 0); err != nil {
		t.Fatalf("end: %v", err)
	}
	h.wantFiles(key(1, 2, "info.json"))
}

// The attempt's own last write may have gone through unseen: what status
// lists as its result stays.
func TestALostAttemptKeepsWhatStatusListsAsItsResult(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	c := h.claimed()
	h.put(key(1, 1, "info.json"), time.Time{})
	h.put(key(1, 1, "audio.m4a"), time.Time{})
	h.meanwhile(func(x *v1alpha1.YouTubeExtraction) {
		status.Succeeded(x, "done", metav1.NewTime(base))
		h.listing(key(1, 1, "info.json"))(x)
	})
	if err := h.w.end(context.Background(), c, newTask(c), outcome{}, 0); err != nil {
		t.Fatalf("end: %v", err)
	}
	h.wantFiles(key(1, 1, "info.json"))
}

// A hand-back that went through unseen makes the attempt another worker's
// to claim, under the same keys: nothing is removed.
func TestAHandBackThatWentThroughUnseenRemovesNothing(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	c := h.claimed()
	h.put(key(1, 1, "info.json"), time.Time{})
	h.meanwhile(func(x *v1alpha1.YouTubeExtraction) { status.HandedBack(x, me) })
	if err := h.w.end(context.Background(), c, newTask(c), outcome{handBack: true}, 0); err != nil {
		t.Fatalf("end: %v", err)
	}
	h.wantFiles(key(1, 1, "info.json"))
}

// A resource deleted while its attempt ran lists nothing any more.
func TestALostAttemptOfADeletedResourceRemovesWhatItStored(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	c := h.claimed()
	h.put(key(1, 1, "info.json"), time.Time{})
	h.deleted(false)
	h.w.abandon(context.Background(), c)
	h.wantFiles()
}

// Without a read of what status lists, nothing is removed: the manager's
// tidy of the finished resource takes what is left.
func TestAnAbandonThatCannotReadTheResourceRemovesNothing(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	c := h.claimed()
	h.put(key(1, 1, "info.json"), time.Time{})
	h.failNextReads(-1)
	h.w.abandon(context.Background(), c)
	h.wantFiles(key(1, 1, "info.json"))
}
