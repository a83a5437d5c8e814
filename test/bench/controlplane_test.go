package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/devenv"
)

// controlPlane is a fresh kube-apiserver and etcd (envtest, started by
// devenv as `ytx-dev` starts them) and a Kafka broker (kfake, in this
// process, reached over TCP), for one benchmark: no benchmark's objects
// weigh on another's figures.
type controlPlane struct {
	api    *devenv.APIServer
	broker *kfake.Cluster
	// admin has no client-side rate limit: the benchmark's own requests
	// (creating the resources) must not be what is measured.
	admin client.WithWatch
	// pids of kube-apiserver and etcd, for their CPU and memory.
	apiserverPID, etcdPID int
}

func startControlPlane(b *testing.B) *controlPlane {
	b.Helper()
	assets := devenv.AssetsDir(filepath.Join(repoRoot, "bin", "k8s"))
	api, err := devenv.StartAPIServer(assets)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { api.Stop() }) //nolint:errcheck // best effort
	broker, err := devenv.StartKafka(0, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(broker.Close)
	admin, err := client.NewWithWatch(unthrottled(api.Config), client.Options{Scheme: app.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	cp := &controlPlane{api: api, broker: broker, admin: admin,
		apiserverPID: childNamed("kube-apiserver"), etcdPID: childNamed("etcd")}
	if cp.apiserverPID == 0 || cp.etcdPID == 0 {
		b.Logf("kube-apiserver (pid %d) or etcd (pid %d) not found: their CPU and memory are not reported", cp.apiserverPID, cp.etcdPID)
	}
	return cp
}

// unthrottled copies cfg with client-go's client-side rate limit off (a
// negative QPS).
func unthrottled(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = -1, 0
	return c
}

// limited copies cfg with the given client-side rate limit; qps < 0 turns
// it off.
func limited(cfg *rest.Config, qps float32, burst int) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = qps, burst
	return c
}

// namespace creates a namespace with a fresh name.
func (cp *controlPlane) namespace(b *testing.B, prefix string) string {
	b.Helper()
	ns := prefix + "-" + rand.String(5)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cp.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	return ns
}

// processes are the PIDs whose CPU a run measures: the API server, etcd
// and this process (ytx's manager and workers, the fake YouTube, Kafka and
// the benchmark's clients all run in it).
func (cp *controlPlane) processes() map[string]int {
	return map[string]int{"kube-apiserver": cp.apiserverPID, "etcd": cp.etcdPID, "bench": os.Getpid()}
}
