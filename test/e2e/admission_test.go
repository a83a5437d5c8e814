package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/youtube/linktest"
)

const rick = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"

// manifest is a YouTubeExtraction as a user might write it, spec and all.
func manifest(ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(),
		"kind":       "YouTubeExtraction",
		"metadata":   map[string]any{"name": name, "namespace": ns},
	}}
	if spec != nil {
		u.Object["spec"] = spec
	}
	return u
}

func TestAdmissionRefusesBadManifests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	cases := []struct {
		name  string
		spec  map[string]any
		field string // the error must name it
	}{
		{"no spec", nil, "spec"},
		{"no url", map[string]any{"thumbnail": true}, "spec.url"},
		{"empty url", map[string]any{"url": ""}, "spec.url"},
		{"other host", map[string]any{"url": "https://vimeo.com/123456789"}, "spec.url"},
		{"playlist only", map[string]any{"url": "https://www.youtube.com/playlist?list=PLFgquLnL59alCl_2TQvOiD5Vgm"}, "spec.url"},
		{"channel", map[string]any{"url": "https://www.youtube.com/@RickAstleyYT"}, "spec.url"},
		{"search", map[string]any{"url": "https://www.youtube.com/results?search_query=rick"}, "spec.url"},
		{"short id", map[string]any{"url": "https://www.youtube.com/watch?v=dQw4w9WgXc"}, "spec.url"},
		{"long id", map[string]any{"url": "https://youtu.be/dQw4w9WgXcQQ"}, "spec.url"},
		{"bad id characters", map[string]any{"url": "https://youtu.be/dQw4w9$gXcQ"}, "spec.url"},
		{"look-alike host", map[string]any{"url": "https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ"}, "spec.url"},
		{"internal address", map[string]any{"url": "http://169.254.169.254/latest/meta-data?v=dQw4w9WgXcQ"}, "spec.url"},
		{"ftp", map[string]any{"url": "ftp://www.youtube.com/watch?v=dQw4w9WgXcQ"}, "spec.url"},
		{"leading space", map[string]any{"url": " " + rick}, "spec.url"},
		{"4 KB url", map[string]any{"url": rick + "&x=" + strings.Repeat("a", 4096)}, "spec.url"},
		{"url not a string", map[string]any{"url": 42}, "spec.url"},
		{"unknown audio format", map[string]any{"url": rick, "audio": map[string]any{"format": "flac"}}, "spec.audio.format"},
		{"audio without format", map[string]any{"url": rick, "audio": map[string]any{}}, "spec.audio.format"},
		{"negative maxHeight", map[string]any{"url": rick, "video": map[string]any{"maxHeight": -720}}, "spec.video.maxHeight"},
		{"tiny maxHeight", map[string]any{"url": rick, "video": map[string]any{"maxHeight": 10}}, "spec.video.maxHeight"},
		{"huge maxHeight", map[string]any{"url": rick, "video": map[string]any{"maxHeight": 100000}}, "spec.video.maxHeight"},
		{"maxHeight as text", map[string]any{"url": rick, "video": map[string]any{"maxHeight": "720p"}}, "spec.video.maxHeight"},
		{"thumbnail as text", map[string]any{"url": rick, "thumbnail": "yes"}, "spec.thumbnail"},
		{"zero attempts", map[string]any{"url": rick, "retry": map[string]any{"maxAttempts": 0}}, "spec.retry.maxAttempts"},
		{"too many attempts", map[string]any{"url": rick, "retry": map[string]any{"maxAttempts": 50}}, "spec.retry.maxAttempts"},
		{"negative ttl", map[string]any{"url": rick, "ttlSecondsAfterFinished": -1}, "spec.ttlSecondsAfterFinished"},
		{"unknown artifact policy", map[string]any{"url": rick, "artifactPolicy": "Keep"}, "spec.artifactPolicy"},
	}
	if len(cases) < 20 {
		t.Fatalf("the issue asks for at least 20 bad manifests, have %d", len(cases))
	}
	ctx := e.ctx(time.Minute)
	for i, c := range cases {
		err := k8s.Create(ctx, manifest(e.ns, fmt.Sprintf("bad-%d", i), c.spec))
		switch {
		case err == nil:
			t.Errorf("%s: accepted, want refused", c.name)
		case !apierrors.IsInvalid(err):
			t.Errorf("%s: %v, want an Invalid error", c.name, err)
		case !strings.Contains(err.Error(), c.field+":") && !strings.Contains(err.Error(), c.field+" "):
			t.Errorf("%s: error does not name %s: %v", c.name, c.field, err)
		}
	}
}

// The URL error tells the user what a valid link looks like.
func TestAdmissionExplainsURLRule(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	err := k8s.Create(e.ctx(10*time.Second), manifest(e.ns, "playlist", map[string]any{"url": "https://www.youtube.com/playlist?list=PL1"}))
	if err == nil || !strings.Contains(err.Error(), "https://youtu.be/VIDEO_ID") {
		t.Fatalf("error should show a valid link, got %v", err)
	}
}

func TestAdmissionAcceptsVideoLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{}) // a manager, no worker: each stays Queued
	names := map[string]string{}
	i := 0
	for link, id := range linktest.Valid {
		name := fmt.Sprintf("ok-%d", i)
		i++
		names[name] = id
		if err := k8s.Create(e.ctx(10*time.Second), manifest(e.ns, name, map[string]any{"url": link})); err != nil {
			t.Errorf("%q refused: %v", link, err)
			delete(names, name)
		}
	}
	for name, id := range names {
		x := e.waitPhase(name, v1alpha1.PhaseQueued, 30*time.Second)
		if x.Status.VideoID != id {
			t.Errorf("%s (%s): videoID %q, want %q", name, x.Spec.URL, x.Status.VideoID, id)
		}
		if x.Spec.ArtifactPolicy != v1alpha1.ArtifactPolicyDelete {
			t.Errorf("%s: artifactPolicy defaulted to %q, want Delete", name, x.Spec.ArtifactPolicy)
		}
	}
}

// TestStatusArtifactsAreKeyedByKind: status.artifacts is a list map keyed
// by kind, so the API server refuses a status naming two files of one kind
// (a writer bug that would leave a user guessing which is theirs), and
// server-side apply can merge one artifact at a time.
func TestStatusArtifactsAreKeyedByKind(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.create("keyed", rick)
	artifact := func(kind v1alpha1.ArtifactKind, file string) v1alpha1.Artifact {
		return v1alpha1.Artifact{Kind: kind, URI: "file:///var/lib/ytx/" + e.ns + "/keyed/" + file}
	}
	write := func(artifacts ...v1alpha1.Artifact) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			x := e.get("keyed")
			x.Status.Artifacts = artifacts
			return k8s.Status().Update(e.ctx(10*time.Second), x)
		})
	}
	err := write(artifact(v1alpha1.ArtifactAudio, "a.m4a"), artifact(v1alpha1.ArtifactAudio, "b.m4a"))
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "status.artifacts[1]") || !strings.Contains(err.Error(), "Duplicate value") {
		t.Errorf("two audio artifacts: %v, want Invalid naming status.artifacts[1] as a duplicate", err)
	}
	if err := write(artifact(v1alpha1.ArtifactAudio, "a.m4a"), artifact(v1alpha1.ArtifactVideo, "v.mp4"), artifact(v1alpha1.ArtifactInfo, "info.json")); err != nil {
		t.Errorf("one artifact of each kind: %v", err)
	}
}
