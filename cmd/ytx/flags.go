package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/kafka"
)

func kubeFlags(fs *pflag.FlagSet, k *app.Kube) {
	fs.StringVar(&k.Kubeconfig, "kubeconfig", "", "kubeconfig file for out-of-cluster access (default: $KUBECONFIG, then the in-cluster config)")
	fs.Float32Var(&k.QPS, "kube-api-qps", app.DefaultQPS, "requests per second to the API server, sustained (the API server's priority and fairness protects it too)")
	fs.IntVar(&k.Burst, "kube-api-burst", app.DefaultBurst, "requests to the API server in a burst, above --kube-api-qps")
}

func servingFlags(fs *pflag.FlagSet, s *app.Serving, metrics, probe string) {
	fs.StringVar(&s.MetricsAddr, "metrics-bind-address", metrics, `address of the Prometheus metrics endpoint; "0" disables it`)
	fs.StringVar(&s.ProbeAddr, "health-probe-bind-address", probe, `address of the /healthz and /readyz endpoints; "0" disables it`)
}

// kafkaFlags are the connection flags shared by manager and worker.
func kafkaFlags(fs *pflag.FlagSet, k *kafka.Config) {
	fs.StringSliceVar(&k.Brokers, "kafka-brokers", nil, "comma-separated Kafka bootstrap addresses, host:port")
	fs.StringVar(&k.Topic, "kafka-topic", kafka.DefaultTopic, "topic of extraction jobs")
	fs.StringVar(&k.ListingTopic, "kafka-listing-topic", kafka.DefaultListingTopic, "topic of listing jobs (a playlist's or channel's videos), apart from --kafka-topic so that workers older than playlists never see one")
	fs.StringVar(&k.TLSCAFile, "kafka-tls-ca", "", "PEM file of the CA that signed the brokers' certificates; turns TLS on")
	fs.BoolVar(&k.TLS, "kafka-tls", false, "use TLS with the system's CAs (implied by --kafka-tls-ca)")
	fs.StringVar(&k.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN; empty for none")
	fs.StringVar(&k.Username, "kafka-username", "", "SASL user name")
	fs.StringVar(&k.PasswordFile, "kafka-password-file", "", "file holding the SASL password (a mounted Secret key)")
	fs.StringVar(&k.ClientID, "kafka-client-id", "ytx", "client ID sent to the brokers")
}

func storageFlag(fs *pflag.FlagSet, url *string) {
	fs.StringVar(url, "storage", "", "where files go: file:///absolute/dir or s3://bucket/prefix?endpoint=host:port&region=r&insecure=true (S3 credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
}

// bytesFlag is a byte count written as a Kubernetes quantity ("500Mi",
// "8Gi", "1000000"), as in a pod's resources.
type bytesFlag struct{ n *int64 }

func (f bytesFlag) String() string {
	if f.n == nil {
		return "0"
	}
	return resource.NewQuantity(*f.n, resource.BinarySI).String()
}

func (f bytesFlag) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil || q.Sign() < 0 {
		return fmt.Errorf("want a byte count such as 500Mi or 8Gi")
	}
	*f.n = q.Value()
	return nil
}

func (f bytesFlag) Type() string { return "bytes" }
