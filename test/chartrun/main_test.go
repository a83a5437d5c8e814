// Package chartrun runs what the Helm chart (charts/ytx) renders, instead of
// only linting it.
//
// TestChartRBAC applies the rendered ServiceAccounts, roles and bindings to
// a real kube-apiserver (envtest authorizes with RBAC) and runs the manager
// and the worker, built by internal/app as `ytx manager` and `ytx worker`
// build them, as the chart's service accounts (impersonated) through a whole
// extraction and a whole playlist sync; then it checks what each one is
// refused.
//
// TestChartWiring resolves the rendered Deployments' args, env and mounted
// Secrets as the kubelet would and starts the real bin/ytx twice with them:
// with transport kafka, and with transport http (no Kafka). It fails, never
// skips, when bin/ytx is missing or older than the sources.
//
// TestChartDoctor runs the rendered doctor CronJob's container the same
// way, as bin/ytx against the fake YouTube, with a token of the doctor's
// own ServiceAccount: it must report to its ConfigMap and an Event.
//
// Kafka is a kfake broker per chart case that does what Strimzi would make
// of the chart's Kafka, KafkaTopics and KafkaUsers: a TLS listener with
// SCRAM-SHA-512, the topics, and the users with their ACLs enforced. A chart
// that passes a flag the binary does not know, forgets one it needs, binds
// a role too narrowly, grants a Kafka user too little or mounts the wrong
// Secret fails here.
package chartrun

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/twmb/franz-go/pkg/kfake"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/devenv"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/storage/s3test"
	"ytx.dev/ytx/internal/youtube/fake"
)

// The chart is rendered once per case, before the broker starts: the
// KafkaUsers it renders are the broker's SCRAM users.
var (
	// clusterCase is the chart's defaults: cluster-wide RBAC.
	clusterCase = chartCase{name: "cluster", release: "demo", namespace: "ytx-system", extractionNS: "rbac-music"}
	// namespacedCase watches two namespaces; a third one exists and is
	// out of bounds. The release name contains "ytx", so it is the
	// chart's fullname as is.
	namespacedCase = chartCase{
		name: "namespaced", release: "tenant-ytx", namespace: "ytx-tenants", extractionNS: "team-a",
		values:  map[string]any{"watchNamespaces": []string{"team-a", "team-b"}},
		watched: []string{"team-a", "team-b"}, unwatched: "team-c",
	}
	// wiringCase stores on the shared volume (storage.type pvc), run as
	// processes.
	wiringCase = chartCase{
		name: "wiring", release: "prod", namespace: "ytx", extractionNS: "music",
		values: map[string]any{"storage": map[string]any{"type": "pvc"}},
	}
	// trialCase is the chart's defaults, run as processes: the files go to
	// the trial S3 server, run from its rendered pod as bin/versitygw.
	trialCase = chartCase{name: "trial", release: "try", namespace: "ytx-trial", extractionNS: "trial-music"}
	// s3Case stores in S3 (a real S3 server); setup sets its values, which
	// name the server's address and a credentials Secret the test makes.
	s3Case = chartCase{name: "s3", release: "media", namespace: "ytx-s3", extractionNS: "podcasts"}
	// httpCase hands jobs to the workers over HTTP: no Kafka, no broker.
	// The job token is a Secret the user made, under a key of its own: a
	// job goes through only if both pods read that key.
	httpCase = chartCase{
		name: "http", release: "relay", namespace: "ytx-http", extractionNS: "radio",
		values: map[string]any{
			"storage":    map[string]any{"type": "pvc"},
			"transport":  "http",
			"jobToken":   map[string]any{"secretName": "relay-jobs", "key": "shared-token"},
			"controller": map[string]any{"queuedTimeout": "30s"},
			"worker":     map[string]any{"jobsQueue": 4},
		},
		secrets: map[string]map[string][]byte{"relay-jobs": {
			"shared-token": []byte("dGhlLXRva2VuLW9mLXRoZS1yZWxheS1yZWxlYXNl\n"),
			// A key that is not the token, at the path the programs read:
			// a chart that mounted every key, or this one, would hand
			// them this, and the worker would take it.
			"token": []byte("not-the-job-token-of-this-release"),
		}},
	}

	// doctorCase runs the doctor's CronJob. Its cookies Secret (under a
	// key of its own) holds the fake YouTube's session cookie, and the
	// video is the fake's that only that session may watch: the doctor
	// reads it only if the mounted cookies reach both resolvers.
	doctorCase = chartCase{
		name: "doctor", release: "checkup", namespace: "ytx-doctor",
		values: map[string]any{"youtube": map[string]any{
			"cookies": map[string]any{"secretName": "youtube-session", "key": "session.txt"},
			"doctor":  map[string]any{"enabled": true, "video": "https://www.youtube.com/watch?v=" + fake.AdultID},
		}},
		secrets: map[string]map[string][]byte{"youtube-session": {"session.txt": []byte(
			"# Netscape HTTP Cookie File\n" +
				".youtube.com\tTRUE\t/\tTRUE\t0\t" + fake.SessionCookieName + "\t" + fake.SessionCookieValue + "\n",
		)}},
	}

	cases = []*chartCase{&clusterCase, &namespacedCase, &wiringCase, &trialCase, &s3Case, &httpCase, &doctorCase}
)

// Shared by every test of the package.
var (
	repoRoot, chartDir, helmBin, ytxBin string
	tmpRoot                             string

	apiServer *devenv.APIServer
	// admin is a cluster administrator's client.
	admin client.Client
	// adminKubeconfig is a kubeconfig file for the administrator.
	adminKubeconfig string

	// kafkaCAPEM is the CA that signed every broker's certificate: what
	// Strimzi puts in <cluster>-cluster-ca-cert.
	kafkaCAPEM  []byte
	kafkaCAFile string
	kafkaCert   tls.Certificate
	// scram holds the SCRAM-SHA-512 password of every KafkaUser the
	// renders contain, as Strimzi's User Operator would have set it.
	scram = map[string]string{}

	// s3srv is a real S3 server process (versitygw) for s3Case.
	s3srv *s3test.Server

	youTube *fake.Server
	// youTubeCAFile is the fake's CA, for SSL_CERT_FILE.
	youTubeCAFile string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// controller-runtime and client-go (klog) log loudly; keep the output
	// quiet unless someone asks for it.
	logf.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	if os.Getenv("YTX_TEST_LOG") != "" {
		l := zap.New(zap.UseDevMode(true))
		logf.SetLogger(l)
		klog.SetLogger(l)
	}
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "chartrun:", err)
		teardown()
		return 1
	}
	defer teardown()
	return m.Run()
}

var closers []func()

func teardown() {
	for _, c := range slices.Backward(closers) {
		c()
	}
}

func setup() error {
	var err error
	if repoRoot, err = filepath.Abs("../.."); err != nil {
		return err
	}
	chartDir = filepath.Join(repoRoot, "charts", "ytx")
	if _, err := os.Stat(filepath.Join(chartDir, "Chart.yaml")); err != nil {
		return fmt.Errorf("no chart at %s: %w", chartDir, err)
	}
	helmBin = os.Getenv("HELM")
	if helmBin == "" {
		helmBin = filepath.Join(repoRoot, "bin", "helm")
	}
	if _, err := os.Stat(helmBin); err != nil {
		return fmt.Errorf("no helm at %s: run `make tools` (it builds bin/helm) or set HELM", helmBin)
	}
	ytxBin = filepath.Join(repoRoot, "bin", "ytx")
	if tmpRoot, err = os.MkdirTemp("", "ytx-chartrun-"); err != nil {
		return err
	}
	closers = append(closers, func() { os.RemoveAll(tmpRoot) }) //nolint:errcheck

	if s3srv, err = s3test.Launch(); err != nil {
		return fmt.Errorf("starting the S3 server (run `make tools` for versitygw): %w", err)
	}
	closers = append(closers, func() { s3srv.Close() }) //nolint:errcheck
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s3srv.CreateBucket(ctx, "media", ""); err != nil {
		return err
	}
	s3Case.values = map[string]any{"storage": map[string]any{
		"type": "s3",
		"s3": map[string]any{
			"bucket": "media", "prefix": "ytx", "endpoint": s3srv.Endpoint, "region": s3test.Region, "insecure": true,
			"credentialsSecret": map[string]any{"name": "s3-credentials"}, "trialServer": map[string]any{"enabled": false},
		},
	}}
	s3Case.secrets = map[string]map[string][]byte{"s3-credentials": {
		"AWS_ACCESS_KEY_ID": []byte(s3srv.AccessKey), "AWS_SECRET_ACCESS_KEY": []byte(s3srv.SecretKey),
	}}

	for _, c := range cases {
		if c.render, err = helmTemplate(c); err != nil {
			return fmt.Errorf("rendering the chart (%s): %w", c.name, err)
		}
	}

	assets := devenv.AssetsDir(filepath.Join(repoRoot, "bin", "k8s"))
	if apiServer, err = devenv.StartAPIServer(assets); err != nil {
		return err
	}
	closers = append(closers, func() { apiServer.Stop() }) //nolint:errcheck
	if admin, err = client.New(apiServer.Config, client.Options{Scheme: app.Scheme}); err != nil {
		return err
	}
	adminKubeconfig = filepath.Join(tmpRoot, "admin.kubeconfig")
	if err := apiServer.WriteKubeconfig(adminKubeconfig); err != nil {
		return err
	}

	// One broker per case, so that cases that share the chart's topic and
	// group names do not share jobs. Its users are the case's KafkaUsers,
	// with their ACLs enforced.
	if kafkaCAPEM, kafkaCert, err = newKafkaCA(); err != nil {
		return err
	}
	kafkaCAFile = filepath.Join(tmpRoot, "kafka-ca.crt")
	if err := os.WriteFile(kafkaCAFile, kafkaCAPEM, 0o644); err != nil {
		return err
	}
	for _, c := range cases {
		if c.transport() != "kafka" {
			continue
		}
		if err := c.startKafka(); err != nil {
			return fmt.Errorf("starting kfake (%s): %w", c.name, err)
		}
	}

	clipDir := filepath.Join(tmpRoot, "clips")
	if err := os.Mkdir(clipDir, 0o755); err != nil {
		return err
	}
	clips, err := fake.MakeClips(ctx, clipDir, 2*time.Second)
	if err != nil {
		return fmt.Errorf("making media clips (run `make tools` for ffmpeg): %w", err)
	}
	videos, err := fake.DefaultVideosWithClips(clips)
	if err == nil {
		if youTube, err = fake.New(videos...); err == nil {
			err = youTube.Start()
		}
	}
	if err != nil {
		return fmt.Errorf("starting the fake YouTube: %w", err)
	}
	closers = append(closers, func() { youTube.Close() }) //nolint:errcheck
	youTubeCAFile = filepath.Join(tmpRoot, "youtube-ca.crt")
	return youTube.WriteCAFile(youTubeCAFile)
}

// startKafka starts the case's broker: it listens with TLS only and
// authenticates every client with SASL SCRAM-SHA-512, like the listener the
// chart's Kafka resource declares, and authorizes with the KafkaUsers' ACLs
// (Strimzi's simple authorization).
func (c *chartCase) startKafka() error {
	adminPassword := randomHex(12)
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{kafkaCert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(),
		kfake.Superuser(kafka.MechanismSCRAMSHA512, "strimzi-admin", adminPassword),
	}
	if c.render.kafkaAuthorization() == "simple" {
		opts = append(opts, kfake.EnableACLs())
	}
	for _, u := range c.render.all("KafkaUser") {
		acls, err := strimziACLs(u)
		if err != nil {
			return err
		}
		password := randomHex(12)
		scram[u.GetName()] = password
		opts = append(opts, kfake.User(kafka.MechanismSCRAMSHA512, u.GetName(), password, acls...))
	}
	var err error
	if c.broker, err = kfake.NewCluster(opts...); err != nil {
		return err
	}
	closers = append(closers, c.broker.Close)
	passwordFile := filepath.Join(tmpRoot, c.name+"-strimzi-admin.password")
	if err := os.WriteFile(passwordFile, []byte(adminPassword), 0o600); err != nil {
		return err
	}
	c.adminKafka = kafka.Config{
		Brokers: c.broker.ListenAddrs(), TLSCAFile: kafkaCAFile,
		SASLMechanism: kafka.MechanismSCRAMSHA512, Username: "strimzi-admin", PasswordFile: passwordFile,
		ClientID: "strimzi-topic-operator",
	}
	// Create the topics as Strimzi's Topic Operator does for the chart's
	// KafkaTopics.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for name, partitions := range c.render.topics() {
		if err := kafka.EnsureTopics(ctx, c.adminKafka, partitions, name); err != nil {
			return fmt.Errorf("creating topic %s: %w", name, err)
		}
	}
	return nil
}

// newKafkaCA makes a CA (Strimzi's cluster CA) and a broker certificate it
// signed for 127.0.0.1.
func newKafkaCA() (caPEM []byte, server tls.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, server, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"io.strimzi"}, CommonName: "cluster-ca v0"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, server, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, server, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, server, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kafka-broker"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, server, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// userPasswordFile writes the SCRAM password of a KafkaUser to a file.
func userPasswordFile(t *testing.T, user string) string {
	t.Helper()
	password, ok := scram[user]
	if !ok {
		t.Fatalf("Kafka user %q is no KafkaUser of the chart (KafkaUsers: %v)", user, mapKeys(scram))
	}
	path := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(path, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
