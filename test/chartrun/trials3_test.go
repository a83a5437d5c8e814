package chartrun

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"ytx.dev/ytx/internal/storage/s3test"
)

// startTrialS3 runs the chart's trial S3 server as the kubelet would run
// its rendered pod, on this machine: the init container's command (which
// makes the bucket) and then the server container's args and env (its keys
// from the Secret) with bin/versitygw standing for the image's versitygw,
// /data a directory shared by both containers, its port a free loopback
// one; it waits until the readiness probe passes. It returns a pattern
// that matches the Service's name and port as the programs' --storage
// names it, and the address that stands for them.
func startTrialS3(t *testing.T, c *chartCase, pe *podEnv) (*regexp.Regexp, string) {
	t.Helper()
	r := c.render
	fn := c.fullname()
	w := deploymentPods(r.deployment(t, fn+"-s3"))
	srv := pe.resolve(t, w, "versitygw", fn+"-s3-5c7d8-qwert")

	// The Service: the port the programs reach and the container port it
	// leads to, which --port must listen on.
	svcObj := r.find("Service", fn+"-s3")
	if svcObj == nil {
		t.Fatalf("no Service %s-s3 rendered for the trial server", fn)
	}
	var svc corev1.Service
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(svcObj.Object, &svc); err != nil {
		t.Fatal(err)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Service %s: %d ports, want one", svc.Name, len(svc.Spec.Ports))
	}
	sp := svc.Spec.Ports[0]
	target := 0
	for _, cp := range srv.container.Ports {
		if cp.Name == sp.TargetPort.String() || int(cp.ContainerPort) == sp.TargetPort.IntValue() {
			target = int(cp.ContainerPort)
		}
	}
	if target == 0 {
		t.Fatalf("Service %s leads to port %s, which the container does not declare", svc.Name, sp.TargetPort.String())
	}
	listen, ok := flagValue(srv.args, srv.envMap(), "port")
	if !ok || listen != fmt.Sprintf(":%d", target) {
		t.Fatalf("versitygw --port=%q, want :%d (the Service's target)", listen, target)
	}
	local := freePort(t)
	for i, a := range srv.args {
		if strings.HasPrefix(a, "--port=") {
			srv.args[i] = fmt.Sprintf("--port=127.0.0.1:%d", local)
		}
	}

	// /data and /tmp become directories; both containers share /data.
	srv.rewrite(nil)
	data := srv.mounts["/data"]
	if data == "" {
		t.Fatalf("the trial server mounts nothing at /data")
	}
	if got := srv.args[len(srv.args)-2:]; !slices.Equal(got, []string{"posix", data}) {
		t.Fatalf("versitygw args end in %q, want the posix backend over the mounted /data", got)
	}
	spec := w.template.Spec
	if len(spec.InitContainers) != 1 {
		t.Fatalf("%s: %d init containers, want the one that makes the bucket", w, len(spec.InitContainers))
	}
	ic := spec.InitContainers[0]
	byVolume := map[string]string{}
	for _, m := range srv.container.VolumeMounts {
		byVolume[m.Name] = srv.mounts[m.MountPath]
	}
	initPod := &pod{container: &ic, mounts: map[string]string{}, args: slices.Clone(ic.Command[1:])}
	for _, m := range ic.VolumeMounts {
		dir, ok := byVolume[m.Name]
		if !ok || dir == "" {
			t.Fatalf("init container %s mounts volume %s, which the server does not", ic.Name, m.Name)
		}
		initPod.mounts[m.MountPath] = dir
	}
	initPod.rewrite(nil)
	if out, err := exec.Command(ic.Command[0], initPod.args...).CombinedOutput(); err != nil {
		t.Fatalf("init container %s (%s %q): %v\n%s", ic.Name, ic.Command[0], initPod.args, err, out)
	}

	bin, err := s3test.Binary()
	if err != nil {
		t.Fatal(err)
	}
	pr := startBinary(t, bin, srv, srv.args)
	alive := func() error {
		if err := pr.alive(); err != nil {
			return fmt.Errorf("versitygw: %w", err)
		}
		return nil
	}
	checkProbes(t, pr, srv, map[int]int{target: local}, alive)
	t.Cleanup(func() { pr.stop(t, 10*time.Second) })
	c.trialDir = data
	t.Logf("trial S3 server: %s %s", bin, strings.Join(srv.args, " "))

	host := regexp.QuoteMeta(svc.Name) + `(\.` + regexp.QuoteMeta(c.namespace) + `(\.svc(\.cluster\.local)?)?)?`
	return regexp.MustCompile(fmt.Sprintf(`\b%s:%d\b`, host, sp.Port)), fmt.Sprintf("127.0.0.1:%d", local)
}

// TestTrialS3BucketIsADirectory: the check that the trial server's init
// container makes its bucket needs versitygw to serve a directory made
// outside it as a bucket; without that directory, storing fails.
func TestTrialS3BucketIsADirectory(t *testing.T) {
	srv := s3test.Start(t)
	if err := os.MkdirAll(filepath.Join(srv.Dir, "made-by-mkdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	cl := srv.Client()
	if _, err := cl.PutObject(ctx, "made-by-mkdir", "a/b", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("storing into a bucket made by mkdir: %v", err)
	}
	if _, err := cl.PutObject(ctx, "never-made", "a/b", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err == nil {
		t.Fatal("storing into a bucket no one made succeeded: the mkdir proves nothing")
	}
}
