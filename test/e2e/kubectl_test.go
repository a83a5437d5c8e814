package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/youtube/fake"
)

// kubectl runs the real kubectl against the test API server and returns its
// output; it fails the test when kubectl fails.
func (e *env) kubectl(args ...string) string {
	e.t.Helper()
	out, err := e.kubectlErr(args...)
	if err != nil {
		e.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *env) kubectlErr(args ...string) (string, error) {
	e.t.Helper()
	bin, err := exec.LookPath(filepath.Join(assetsDir, "kubectl"))
	if err != nil {
		e.t.Fatalf("kubectl is not built (run `make tools`): %v", err)
	}
	cfg := filepath.Join(e.t.TempDir(), "kubeconfig")
	if err := apiServer.WriteKubeconfig(cfg); err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.CommandContext(e.ctx(2*time.Minute), bin, append([]string{"--kubeconfig", cfg, "-n", e.ns}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECTL_INTERACTIVE_DELETE=false")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// What the README promises: apply the samples, wait for them, and see their
// titles in `kubectl get extractions`.
func TestKubectlAppliesTheSamples(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})

	e.kubectl("apply", "-f", "../../config/samples/")
	e.kubectl("wait", "--for=condition=Complete", "--timeout=60s", "youtubeextraction/never-gonna", "extraction/me-at-the-zoo")
	// The sample subscription: the channel's one upload, as m4a.
	pl := e.waitPlaylist("rick-astley", time.Minute, "synced", synced)
	child := e.waitChildren("rick-astley", 1, v1alpha1.PhaseSucceeded, time.Minute)[0]
	if pl.Status.Videos != 1 || child.Annotations[playlist.AnnotationVideoID] != fake.RickrollID || child.Labels["library"] != "music" {
		t.Errorf("the sample playlist lists %d videos and made %s of %s (labels %v); want the channel's upload %s with the template's label",
			pl.Status.Videos, child.Name, child.Annotations[playlist.AnnotationVideoID], child.Labels, fake.RickrollID)
	}

	table := e.kubectl("get", "extractions")
	for _, want := range []string{"VIDEO", "TITLE", "PHASE", "PROGRESS",
		fake.RickrollID, "Rick Astley - Never Gonna Give You Up", fake.ZooID, "Me at the zoo", "Succeeded"} {
		if !strings.Contains(table, want) {
			t.Errorf("`kubectl get extractions` does not show %q:\n%s", want, table)
		}
	}
	for _, row := range strings.Split(strings.TrimSpace(table), "\n")[1:] {
		if f := strings.Fields(row); f[len(f)-2] != "100" {
			t.Errorf("a finished extraction should show progress 100: %q", row)
		}
	}
	// The short names and the category: the two sample extractions and
	// the playlist's one, and the playlist.
	for name, want := range map[string]int{"extraction": 3, "youtubeextractions.ytx.dev": 3, "ytx": 4, "playlist": 1, "ytpl": 1, "youtubeplaylists.ytx.dev": 1} {
		if out := e.kubectl("get", name, "-o", "name"); strings.Count(out, "\n") != want {
			t.Errorf("`kubectl get %s` should list %d resources:\n%s", name, want, out)
		}
	}
	wide := e.kubectl("get", "extractions", "-o", "wide")
	for _, want := range []string{"ATTEMPTS", "WORKER", "URL", "https://youtu.be/" + fake.ZooID} {
		if !strings.Contains(wide, want) {
			t.Errorf("`kubectl get extractions -o wide` does not show %q:\n%s", want, wide)
		}
	}
}

// `kubectl explain` is the API's manual: every spec field is documented.
func TestKubectlExplainsTheSpec(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	spec := e.kubectl("explain", "youtubeextraction.spec")
	for _, field := range []string{"url", "audio", "video", "thumbnail", "retry", "ttlSecondsAfterFinished", "artifactPolicy"} {
		if !strings.Contains(spec, field+"\t") {
			t.Errorf("`kubectl explain youtubeextraction.spec` does not list %s:\n%s", field, spec)
		}
	}
	url := e.kubectl("explain", "youtubeextraction.spec.url")
	if !strings.Contains(url, "youtu.be") {
		t.Errorf("`kubectl explain youtubeextraction.spec.url` should say which links are accepted:\n%s", url)
	}
	plSpec := e.kubectl("explain", "youtubeplaylist.spec")
	for _, field := range []string{"url", "template", "schedule", "suspend", "maxVideos", "publishedAfter", "match", "includeLive"} {
		if !strings.Contains(plSpec, field+"\t") {
			t.Errorf("`kubectl explain youtubeplaylist.spec` does not list %s:\n%s", field, plSpec)
		}
	}
	status := e.kubectl("explain", "youtubeextraction.status")
	for _, field := range []string{"phase", "metadata", "artifacts", "progress", "conditions", "lastFailure"} {
		if !strings.Contains(status, field+"\t") {
			t.Errorf("`kubectl explain youtubeextraction.status` does not list %s:\n%s", field, status)
		}
	}
}

// A link that is not a video is refused by `kubectl apply` itself, with a
// message that names the field.
func TestKubectlRefusesABadLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	manifest := "apiVersion: ytx.dev/v1alpha1\nkind: YouTubeExtraction\nmetadata:\n  name: channel\nspec:\n  url: https://www.youtube.com/@RickAstleyYT\n"
	if err := os.WriteFile(bad, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := e.kubectlErr("apply", "-f", bad)
	if err == nil {
		t.Fatalf("kubectl apply accepted a channel link:\n%s", out)
	}
	if !strings.Contains(out, "spec.url") {
		t.Errorf("the error should name spec.url:\n%s", out)
	}
}
