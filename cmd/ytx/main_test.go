package main

import (
	"bytes"
	"strings"
	"testing"

	"ytx.dev/ytx/internal/cli"
)

// A bad value stops the program at start with one line that names the flag
// (and the environment variable, when it came from one).
func TestBadValuesNameTheFlag(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"not a number", []string{"worker", "--concurrency", "many"}, nil, []string{"--concurrency"}},
		{"zero concurrency", []string{"worker", "--kafka-brokers", "k:9092", "--concurrency", "0"}, nil, []string{"--concurrency 0"}},
		{"env not a number", []string{"worker"}, map[string]string{"YTX_CONCURRENCY": "lots"}, []string{"YTX_CONCURRENCY", "--concurrency"}},
		{"env zero", []string{"worker", "--kafka-brokers", "k:9092"}, map[string]string{"YTX_CONCURRENCY": "0"}, []string{"--concurrency 0"}},
		{"no brokers", []string{"manager"}, nil, []string{"--kafka-brokers"}},
		{"broker without port", []string{"manager", "--kafka-brokers", "kafka"}, nil, []string{"--kafka-brokers"}},
		{"unknown SASL", []string{"manager", "--kafka-brokers", "k:9092", "--kafka-sasl-mechanism", "KERBEROS"}, nil, []string{"--kafka-sasl-mechanism"}},
		{"SASL without user", []string{"worker", "--kafka-brokers", "k:9092", "--kafka-sasl-mechanism", "SCRAM-SHA-512"}, nil, []string{"--kafka-username"}},
		{"missing password file", []string{"worker", "--kafka-brokers", "k:9092", "--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-username", "u", "--kafka-password-file", "/nonexistent"}, nil, []string{"--kafka-password-file"}},
		{"missing CA", []string{"manager", "--kafka-brokers", "k:9092", "--kafka-tls-ca", "/nonexistent/ca.crt"}, nil, []string{"--kafka-tls-ca"}},
		{"bad duration", []string{"manager", "--heartbeat-timeout", "soon"}, nil, []string{"--heartbeat-timeout"}},
		{"negative namespace cap", []string{"manager", "--kafka-brokers", "k:9092", "--max-in-flight-per-namespace", "-1"}, nil, []string{"--max-in-flight-per-namespace -1"}},
		{"env negative namespace cap", []string{"manager", "--kafka-brokers", "k:9092"}, map[string]string{"YTX_MAX_IN_FLIGHT_PER_NAMESPACE": "-5"}, []string{"--max-in-flight-per-namespace -5"}},
		{"env namespace cap not a number", []string{"manager"}, map[string]string{"YTX_MAX_IN_FLIGHT_PER_NAMESPACE": "many"}, []string{"YTX_MAX_IN_FLIGHT_PER_NAMESPACE", "--max-in-flight-per-namespace"}},
		{"env bad duration", []string{"manager"}, map[string]string{"YTX_RETRY_BACKOFF": "soon"}, []string{"YTX_RETRY_BACKOFF", "--retry-backoff"}},
		{"bad log level", []string{"worker", "--log-level", "loud"}, nil, []string{"--log-level"}},
		{"unknown flag", []string{"worker", "--concurrancy", "2"}, nil, []string{"--concurrancy"}},
		{"no storage", []string{"manager", "--kafka-brokers", "k:9092"}, nil, []string{"--storage"}},
		{"bad storage", []string{"worker", "--kafka-brokers", "k:9092", "--storage", "ftp://host/x"}, nil, []string{"--storage"}},
		{"relative storage dir", []string{"worker", "--kafka-brokers", "k:9092", "--storage", "file://data"}, nil, []string{"--storage"}},
		{"missing storage dir", []string{"manager", "--kafka-brokers", "k:9092", "--storage", "file:///nonexistent/ytx"}, nil, []string{"--storage"}},
		{"bad byte count", []string{"worker", "--max-artifact-bytes", "lots"}, nil, []string{"--max-artifact-bytes"}},
		{"env bad byte count", []string{"worker"}, map[string]string{"YTX_MAX_ARTIFACT_BYTES": "-5Gi"}, []string{"YTX_MAX_ARTIFACT_BYTES", "--max-artifact-bytes"}},
		{"missing ffmpeg", []string{"worker", "--kafka-brokers", "k:9092", "--ffmpeg", "/nonexistent/ffmpeg"}, nil, []string{"--ffmpeg"}},
		{"session timeout below the brokers' minimum", []string{"worker", "--kafka-brokers", "k:9092", "--kafka-session-timeout", "1s"}, nil, []string{"--kafka-session-timeout"}},
		{"lease shorter than renew deadline", []string{"manager", "--kafka-brokers", "k:9092", "--leader-election-lease-duration", "5s", "--leader-election-renew-deadline", "8s", "--leader-election-retry-period", "1s"}, nil, []string{"--leader-election-lease-duration"}},
		{"lease timings half set", []string{"manager", "--kafka-brokers", "k:9092", "--leader-election-lease-duration", "5s"}, nil, []string{"--leader-election-renew-deadline"}},
		{"stuck-after below two lag intervals", []string{"manager", "--kafka-brokers", "k:9092", "--kafka-lag-interval", "1m", "--kafka-stuck-after", "90s"}, nil, []string{"--kafka-stuck-after 1m30s", "--kafka-lag-interval 1m0s"}},
		{"negative lag interval", []string{"manager", "--kafka-brokers", "k:9092", "--kafka-lag-interval", "-1s"}, nil, []string{"--kafka-lag-interval -1s"}},
		{"unknown transport", []string{"manager", "--transport", "grpc"}, nil, []string{"--transport"}},
		{"http without a worker URL", []string{"manager", "--transport", "http"}, nil, []string{"--worker-url"}},
		{"bad worker URL", []string{"manager", "--transport", "http", "--worker-url", "ytx-worker:8090", "--storage", "file:///tmp"}, nil, []string{"--worker-url"}},
		{"http manager without a job token", []string{"manager", "--transport", "http", "--worker-url", "http://ytx-worker:8090", "--storage", "file:///tmp"}, nil, []string{"--job-token-file is required with --transport=http", "same key of one Secret"}},
		{"http worker without a job token", []string{"worker", "--transport", "http"}, nil, []string{"--job-token-file is required with --transport=http"}},
		{"env http worker without a job token", []string{"worker"}, map[string]string{"YTX_TRANSPORT": "http"}, []string{"--job-token-file"}},
		{"missing job token file", []string{"worker", "--transport", "http", "--job-token-file", "/nonexistent/token"}, nil, []string{"--job-token-file /nonexistent/token"}},
		{"env unknown transport", []string{"worker"}, map[string]string{"YTX_TRANSPORT": "carrier-pigeon"}, []string{"--transport"}},
		{"listing topic is the job topic", []string{"worker", "--kafka-brokers", "k:9092", "--kafka-listing-topic", "ytx.extractions"}, nil, []string{"--kafka-listing-topic", "--kafka-topic"}},
		{"manager listing topic is the job topic", []string{"manager", "--kafka-brokers", "k:9092", "--kafka-topic", "jobs", "--kafka-listing-topic", "jobs"}, nil, []string{"--kafka-listing-topic"}},
		{"bad listing topic", []string{"manager", "--kafka-brokers", "k:9092", "--kafka-listing-topic", "lists/x"}, nil, []string{"--kafka-listing-topic"}},
		{"listing group is the group", []string{"worker", "--kafka-brokers", "k:9092", "--kafka-listing-group", "ytx-workers"}, nil, []string{"--kafka-listing-group", "--kafka-group"}},
		{"negative listing concurrency", []string{"worker", "--kafka-brokers", "k:9092", "--listing-concurrency", "-1"}, nil, []string{"--listing-concurrency -1"}},
		{"negative listing cap", []string{"worker", "--kafka-brokers", "k:9092", "--max-listing-entries", "-1"}, nil, []string{"--max-listing-entries -1"}},
		{"env listing concurrency not a number", []string{"worker"}, map[string]string{"YTX_LISTING_CONCURRENCY": "some"}, []string{"YTX_LISTING_CONCURRENCY", "--listing-concurrency"}},
		{"missing scratch dir", []string{"worker", "--kafka-brokers", "k:9092", "--scratch-dir", "/nonexistent/scratch"}, nil, []string{"--scratch-dir"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			code := run(t.Context(), c.args, &out, &errOut)
			msg := errOut.String()
			if code == 0 {
				t.Fatalf("exit code 0, want failure; stderr %q", msg)
			}
			if strings.Count(strings.TrimSpace(msg), "\n") != 0 {
				t.Errorf("error is more than one line:\n%s", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not name %s", msg, w)
				}
			}
		})
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	t.Setenv("YTX_KAFKA_TOPIC", "from-env")
	cmd := workerCommand()
	if err := cmd.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if err := cli.BindEnv(cmd.Flags()); err != nil {
		t.Fatal(err)
	}
	if got, _ := cmd.Flags().GetString("kafka-topic"); got != "from-env" {
		t.Fatalf("--kafka-topic = %q, want the value of YTX_KAFKA_TOPIC", got)
	}
	// The command line wins over the environment.
	cmd = workerCommand()
	if err := cmd.ParseFlags([]string{"--kafka-topic", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	if err := cli.BindEnv(cmd.Flags()); err != nil {
		t.Fatal(err)
	}
	if got, _ := cmd.Flags().GetString("kafka-topic"); got != "from-flag" {
		t.Fatalf("--kafka-topic = %q, want the command line's value", got)
	}
}
