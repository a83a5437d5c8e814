package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/test/internal/ytxbin"
)

// ytxBinary is bin/ytx, which must be fresh: the doctor runs as a person
// runs it, a program with the worker's flags and environment.
func ytxBinary(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin", "ytx")
	if err := ytxbin.Fresh(root, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// doctor runs `ytx doctor args...` against the fake y, reached as a
// worker in a cluster reaches YouTube through a proxy: HTTPS_PROXY and
// SSL_CERT_FILE.
func doctor(t *testing.T, y *today, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ytxBinary(t), append([]string{"doctor"}, args...)...)
	cmd.Env = append(os.Environ(), "HTTPS_PROXY="+y.ProxyURL().String(), "SSL_CERT_FILE="+y.caFile, "NO_PROXY=", "no_proxy=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

// row finds the table row of a resolver.
func row(out, resolver string) []string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == resolver {
			return f
		}
	}
	return nil
}

// Against today's YouTube, ytx doctor shows kkdai's media refused (with the
// fix to try) and yt-dlp's working, and exits 0; with no resolver that
// works it exits non-zero and says what to install.
func TestDoctorTellsWhichResolverWorks(t *testing.T) {
	t.Parallel()
	y := startToday(t)
	out, code := doctor(t, y)
	kkdai, ytdlp := row(out, "kkdai"), row(out, "yt-dlp")
	if code != 0 || len(kkdai) < 6 || len(ytdlp) < 6 {
		t.Fatalf("exit %d; output:\n%s", code, out)
	}
	if !strings.Contains(strings.Join(kkdai, " "), "ok FAIL") || !strings.Contains(strings.Join(kkdai, " "), "Forbidden") || !strings.Contains(out, "--resolvers") {
		t.Errorf("kkdai's row %v: want metadata ok, media FAIL with Forbidden and a fix naming --resolvers\n%s", kkdai, out)
	}
	if !strings.Contains(strings.Join(ytdlp, " "), "ok ok") || !strings.HasPrefix(ytdlp[1], "2026.") {
		t.Errorf("yt-dlp's row %v: want its version, metadata ok, media ok", ytdlp)
	}

	// --kkdai-client reaches the library: its player requests come as the
	// web client, whose media YouTube refuses too.
	before := len(y.RequestLog())
	out, _ = doctor(t, y, "--resolvers=kkdai", "--kkdai-client=web")
	if kkdai := row(out, "kkdai"); len(kkdai) < 3 || kkdai[2] != "(WEB" {
		t.Errorf("with --kkdai-client=web the version column says %v", kkdai)
	}
	web := 0
	for _, q := range y.RequestLog()[before:] {
		if q.Kind == fake.KindPlayer && q.Client == "WEB" {
			web++
		}
	}
	if web == 0 {
		t.Error("--kkdai-client=web: no player request came as WEB")
	}

	out, code = doctor(t, y, "--ytdlp="+filepath.Join(t.TempDir(), "no-yt-dlp"))
	if code == 0 || !strings.Contains(out, "install yt-dlp") || !strings.Contains(out, "no resolver could read") {
		t.Errorf("with no working resolver: exit %d, want non-zero with what to install; output:\n%s", code, out)
	}
}

// In a cluster the doctor records its report in a ConfigMap and a Warning
// Event on it when no resolver works.
func TestDoctorReportsToAConfigMapAndAnEvent(t *testing.T) {
	t.Parallel()
	y := startToday(t)
	e := newEnv(t, setup{})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := apiServer.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	out, code := doctor(t, y, "--resolvers=kkdai", "--kubeconfig="+kubeconfig, "--report-configmap=ytx-doctor", "--report-namespace="+e.ns)
	if code == 0 {
		t.Fatalf("kkdai alone against today's YouTube: exit 0; output:\n%s", out)
	}
	var cm corev1.ConfigMap
	if err := k8s.Get(e.ctx(10*time.Second), client.ObjectKey{Namespace: e.ns, Name: "ytx-doctor"}, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data["working"] != "false" || !strings.Contains(cm.Data["report"], "kkdai") {
		t.Errorf("ConfigMap data %v", cm.Data)
	}
	var evs eventsv1.EventList
	if err := k8s.List(e.ctx(10*time.Second), &evs, client.InNamespace(e.ns)); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range evs.Items {
		if ev.Reason == app.ReasonNoWorkingResolver && ev.Type == corev1.EventTypeWarning && ev.Regarding.Name == "ytx-doctor" && strings.Contains(ev.Note, "kkdai") {
			found = true
		}
	}
	if !found {
		t.Errorf("no Warning %s event on the ConfigMap among %d events", app.ReasonNoWorkingResolver, len(evs.Items))
	}
}
