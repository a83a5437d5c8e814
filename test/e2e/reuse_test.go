package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/storage"
)

// Names are reused all the time: the same manifest applied again, a GitOps
// tool recreating a resource. Apply never-gonna with artifactPolicy Retain,
// delete it (its files stay, as promised), apply a new never-gonna with
// metadata only, and delete that one too: every retained file is still
// there, byte for byte, and the new one's files are gone.
func TestRetainedFilesSurviveANewExtractionOfTheSameName(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"directory", "s3"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			var s setup
			if backend == "s3" {
				s.storage = s3Storage(t)
			}
			e := newEnv(t, s)
			e.startWorker(workerSetup{})
			v := addClipVideo(t, "Never gonna")

			e.create("never-gonna", watchURL(v.ID), func(x *v1alpha1.YouTubeExtraction) {
				x.Spec.ArtifactPolicy = v1alpha1.ArtifactPolicyRetain
				x.Spec.Thumbnail = true
				x.Spec.Audio = &v1alpha1.AudioSpec{Format: v1alpha1.AudioM4A}
			})
			first := e.waitPhase("never-gonna", v1alpha1.PhaseSucceeded, 60*time.Second)
			retained := e.sums(e.keys("never-gonna"))
			if len(retained) != 3 || len(first.Status.Artifacts) != 3 {
				t.Fatalf("stored %v, status lists %d files; want info.json, thumbnail.jpg and audio.m4a", slices.Collect(maps.Keys(retained)), len(first.Status.Artifacts))
			}
			e.fetch(first) // where status says, with its sha256
			e.deleteAndWait("never-gonna")
			e.wantSums(retained)

			e.create("never-gonna", watchURL(v.ID))
			second := e.waitPhase("never-gonna", v1alpha1.PhaseSucceeded, 60*time.Second)
			if second.UID == first.UID {
				t.Fatal("the second never-gonna has the first one's UID")
			}
			e.wantSums(retained)
			fresh := storage.ExtractionPrefix(e.ns, "never-gonna", string(second.UID))
			var mine []string
			for _, k := range e.keys("never-gonna") {
				if strings.HasPrefix(k, fresh) {
					mine = append(mine, k)
				} else if _, ok := retained[k]; !ok {
					t.Errorf("%s is neither retained nor the new extraction's", k)
				}
			}
			if want := []string{resultKey(second, "info.json")}; !slices.Equal(mine, want) {
				t.Errorf("the new extraction stored %v, want %v", mine, want)
			}
			e.fetch(second)

			e.deleteAndWait("never-gonna") // artifactPolicy Delete
			e.wantSums(retained)
			if keys := e.keys("never-gonna"); len(keys) != len(retained) {
				t.Errorf("after deleting the second: %v, want only the %d retained files", keys, len(retained))
			}
		})
	}
}

// sums reads every key back and returns its sha256.
func (e *env) sums(keys []string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, k := range keys {
		r, err := e.store.Open(e.ctx(30*time.Second), k)
		if err != nil {
			e.t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			e.t.Fatal(err)
		}
		out[k] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}

// wantSums fails unless every key of want is stored with its sha256.
func (e *env) wantSums(want map[string]string) {
	e.t.Helper()
	got := e.sums(slices.Collect(maps.Keys(want)))
	for k, sum := range want {
		if got[k] != sum {
			e.t.Errorf("%s: sha256 %s, want the retained %s", k, got[k], sum)
		}
	}
}

// deleteAndWait deletes the extraction and waits until it is gone.
func (e *env) deleteAndWait(name string) {
	e.t.Helper()
	if err := k8s.Delete(e.ctx(10*time.Second), e.get(name)); err != nil {
		e.t.Fatal(err)
	}
	e.waitGone(name, 30*time.Second)
}
