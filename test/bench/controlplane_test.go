package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
	// etcd is etcd's client URL, for its /metrics.
	etcd string
}

func startControlPlane(b *testing.B, opts ...devenv.APIServerOption) *controlPlane {
	b.Helper()
	assets := devenv.AssetsDir(filepath.Join(repoRoot, "bin", "k8s"))
	api, err := devenv.StartAPIServer(assets, opts...)
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
	cp := &controlPlane{api: api, broker: broker, admin: admin, etcd: api.EtcdURL(),
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

// etcdDB is the size of etcd's database file and the part of it in use
// (etcd_mvcc_db_total_size_in_bytes and _in_use_in_bytes from its
// /metrics), after compacting away every revision but the latest of each
// key. The API server compacts so every 5 minutes; compacting here makes
// a run whose setup took 3 minutes comparable with one that took 20.
func (cp *controlPlane) etcdDB() (total, inUse int64, err error) {
	if err := compactEtcd(cp.etcd); err != nil {
		return 0, 0, fmt.Errorf("compacting etcd: %w", err)
	}
	t, err := scrape(cp.etcd+"/metrics", "etcd_mvcc_db_total_size_in_bytes", "")
	if err != nil {
		return 0, 0, err
	}
	u, err := scrape(cp.etcd+"/metrics", "etcd_mvcc_db_total_size_in_use_in_bytes", "")
	return int64(t), int64(u), err
}

// compactEtcd compacts etcd at its current revision through its JSON
// gateway, and waits until the compaction is applied to the database.
func compactEtcd(url string) error {
	var r struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	if err := postJSON(url+"/v3/kv/range", `{"key":"AA=="}`, &r); err != nil {
		return err
	}
	err := postJSON(url+"/v3/kv/compaction", fmt.Sprintf(`{"revision":%q,"physical":true}`, r.Header.Revision), nil)
	if err != nil && strings.Contains(err.Error(), "required revision has been compacted") {
		// Nothing was written since the last compaction (a second
		// manager's resync writes nothing): compacted already.
		return nil
	}
	return err
}

// postJSON posts body to url and decodes the answer into into (nil: drops
// it).
func postJSON(url, body string, into any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, bytes.TrimSpace(data))
	}
	if into == nil {
		return nil
	}
	return json.Unmarshal(data, into)
}
