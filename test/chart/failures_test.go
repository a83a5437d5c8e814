package chart_test

import (
	"strings"
	"testing"
)

// TestBadValuesFail: values that cannot work fail `helm template` with a
// message that names the problem. Those that values.schema.json catches
// (typos, types, enums) fail `helm lint --strict` too; those that the
// templates catch with `fail` only log there, as helm lint does by design.
func TestBadValuesFail(t *testing.T) {
	for _, c := range []struct {
		name   string
		args   []string
		want   []string
		schema bool // caught by values.schema.json, so by helm lint too
	}{
		{"typo", []string{"--set", "worker.replica=3"}, []string{"/worker", "'replica' not allowed"}, true},
		{"typo-nested", []string{"--set", "kafka.strimzi.replica=3"}, []string{"/kafka/strimzi", "'replica' not allowed"}, true},
		{"typo-top-level", []string{"--set", "watchNamespace={a}"}, []string{"'watchNamespace' not allowed"}, true},
		{"wrong-type", []string{"--set", "worker.concurrency=four"}, []string{"/worker/concurrency", "integer"}, true},
		{"bad-enum", []string{"--set", "storage.type=nfs"}, []string{"/storage/type", "pvc", "s3"}, true},
		// Workers older than playlists read the job topic: a listing there
		// would be poison to them.
		{"listing-topic-is-the-job-topic", []string{"--set", "kafka.listingTopic=ytx.extractions"},
			[]string{"kafka.listingTopic ytx.extractions is the job topic or the dead-letter topic"}, false},
		{"listing-topic-is-the-dead-letter-topic", []string{"--set", "kafka.listingTopic=ytx.extractions.dlq"},
			[]string{"kafka.listingTopic ytx.extractions.dlq is the job topic or the dead-letter topic"}, false},
		{"listing-group-is-the-group", []string{"--set", "kafka.listingGroup=ytx-workers"},
			[]string{"kafka.listingGroup ytx-workers is kafka.group"}, false},
		{"bad-listing-topic", []string{"--set", "kafka.listingTopic=lists/x"}, []string{"/kafka/listingTopic", "does not match pattern"}, true},
		{"both-kafka-modes", []string{"--set", "kafka.external.enabled=true", "--set", "kafka.external.brokers={k:9092}"},
			[]string{"kafka.strimzi.enabled and kafka.external.enabled are both true", "choose one Kafka mode"}, false},
		{"no-kafka-mode", []string{"--set", "kafka.strimzi.enabled=false"},
			[]string{"neither kafka.strimzi.enabled nor kafka.external.enabled", "choose one Kafka mode"}, false},
		{"external-without-brokers", []string{"--set", "kafka.strimzi.enabled=false", "--set", "kafka.external.enabled=true"},
			[]string{"kafka.external.brokers is empty"}, false},
		{"sasl-without-password", []string{"--set", "kafka.strimzi.enabled=false", "--set", "kafka.external.enabled=true",
			"--set", "kafka.external.brokers={k:9092}", "--set", "kafka.external.sasl.mechanism=PLAIN", "--set", "kafka.external.sasl.username=u"},
			[]string{"kafka.external.sasl.passwordSecret.name is empty"}, false},
		{"s3-without-bucket", []string{"--set", "storage.s3.trialServer.enabled=false"},
			[]string{"storage.s3.bucket is empty", "storage.s3.trialServer.enabled=true"}, false},
		// A ReadWriteOnce claim attaches to one node: the pods on the others
		// would never start, with no hint why.
		{"pvc-read-write-once", []string{"--set", "storage.type=pvc", "--set", "storage.pvc.accessModes={ReadWriteOnce}"},
			[]string{"storage.pvc.accessModes is [ReadWriteOnce] without ReadWriteMany", "attaches to one node only", "storage.type=s3"}, false},
		{"pvc-read-write-once-pod", []string{"--set", "storage.type=pvc", "--set", "storage.pvc.accessModes={ReadWriteOncePod}"},
			[]string{"storage.pvc.accessModes is [ReadWriteOncePod] without ReadWriteMany"}, false},
		{"trial-s3-with-endpoint", []string{"--set", "storage.s3.endpoint=minio.storage:9000"},
			[]string{"storage.s3.endpoint is minio.storage:9000 but storage.s3.trialServer.enabled is true", "set storage.s3.trialServer.enabled=false"}, false},
		{"trial-s3-typo", []string{"--set", "storage.s3.trialServer.persistance.enabled=false"}, []string{"/storage/s3/trialServer", "'persistance' not allowed"}, true},
		{"crds-typo", []string{"--set", "crds.keepp=false"}, []string{"/crds", "'keepp' not allowed"}, true},
		{"bad-transport", []string{"--set", "transport=grpc"}, []string{"/transport", "kafka", "http"}, true},
		{"keda-with-http", []string{"--set", "transport=http", "--set", "jobToken.secretName=t", "--set", "keda.enabled=true"},
			[]string{"keda.enabled is true but transport is http", "consumer group's lag", "set keda.enabled=false"}, false},
		// The chart never makes the token (it would change with every
		// upgrade): without the user's Secret, http fails and says how to
		// make one.
		{"http-without-job-token", []string{"--set", "transport=http"},
			[]string{"jobToken.secretName is empty but transport is http", "kubectl -n default create secret generic bad-ytx-job-token", "head -c 32 /dev/urandom | base64", "set jobToken.secretName=bad-ytx-job-token"}, false},
		{"bad-job-token-secret-name", []string{"--set", "transport=http", "--set", "jobToken.secretName=Job_Token"},
			[]string{"/jobToken/secretName", "does not match pattern"}, true},
		{"empty-job-token-key", []string{"--set", "transport=http", "--set", "jobToken.secretName=t", "--set", "jobToken.key="},
			[]string{"/jobToken/key"}, true},
		{"job-token-typo", []string{"--set", "jobToken.secret=t"}, []string{"/jobToken", "'secret' not allowed"}, true},
		{"queued-timeout-zero-with-http", []string{"--set", "transport=http", "--set", "jobToken.secretName=t", "--set", "controller.queuedTimeout=0s"},
			[]string{"controller.queuedTimeout is 0s with transport http", "stay Queued"}, false},
		{"stuck-after-below-two-lag-intervals", []string{"--set", "controller.kafkaLagInterval=1m", "--set", "controller.kafkaStuckAfter=90s"},
			[]string{"controller.kafkaStuckAfter 90s is less than twice controller.kafkaLagInterval 1m"}, false},
		{"bad-lag-interval", []string{"--set", "controller.kafkaLagInterval=often"}, []string{"/controller/kafkaLagInterval"}, true},
		{"bad-queued-timeout", []string{"--set", "controller.queuedTimeout=soon"}, []string{"/controller/queuedTimeout"}, true},
		// Proxies with credentials go in the Secret, never on the command
		// line where anyone who can list processes reads them.
		{"proxy-with-credentials", []string{"--set", "youtube.proxy.urls={http://ytx:hunter2@proxy.example:3128}"},
			[]string{"youtube.proxy.urls[0] carries credentials", "youtube.proxy.secretName"}, false},
		{"proxy-with-credentials-second", []string{"--set", "youtube.proxy.urls={http://proxy.example:3128,socks5://ytx:hunter2@socks.example:1080}"},
			[]string{"youtube.proxy.urls[1] carries credentials"}, false},
		{"proxy-with-user-only", []string{"--set", "youtube.proxy.urls={https://ytx@proxy.example}"},
			[]string{"youtube.proxy.urls[0] carries credentials"}, false},
		{"proxy-not-a-url", []string{"--set", "youtube.proxy.urls={ftp://proxy.example:21}"},
			[]string{"/youtube/proxy/urls/0", "does not match pattern"}, true},
		{"bad-resolver", []string{"--set", "youtube.resolvers={kkdai,youtube-dl}"},
			[]string{"/youtube/resolvers/1", "kkdai", "yt-dlp"}, true},
		{"resolver-twice", []string{"--set", "youtube.resolvers={yt-dlp,yt-dlp}"},
			[]string{"/youtube/resolvers", "equal"}, true},
		{"bad-kkdai-client", []string{"--set", "youtube.kkdaiClient=tv"},
			[]string{"/youtube/kkdaiClient", "android_vr", "web_embedded"}, true},
		{"extractor-args-without-extractor", []string{"--set", "youtube.ytdlp.extractorArgs={player_client=web}"},
			[]string{"/youtube/ytdlp/extractorArgs/0"}, true},
		{"bad-youtube-cooldown", []string{"--set", "youtube.cooldown=soon"}, []string{"/youtube/cooldown"}, true},
		{"bad-rate-limited-backoff", []string{"--set", "controller.rateLimitedBackoff=5 minutes"}, []string{"/controller/rateLimitedBackoff"}, true},
		{"youtube-typo", []string{"--set", "youtube.cookie.secretName=s"}, []string{"/youtube", "'cookie' not allowed"}, true},
		{"grace-too-short", []string{"--set", "worker.shutdownGrace=1m", "--set", "worker.terminationGracePeriodSeconds=30"},
			[]string{"worker.terminationGracePeriodSeconds (30) must be larger than worker.shutdownGrace (1m = 60s)"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			verbs := [][]string{{"template", "bad", chartDir}}
			if c.schema {
				verbs = append(verbs, []string{"lint", "--strict", chartDir})
			}
			for _, verb := range verbs {
				_, err := helm(append(verb, c.args...)...)
				if err == nil {
					t.Fatalf("helm %s %v succeeded", verb[0], c.args)
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("helm %s %v: the error does not say %q:\n%v", verb[0], c.args, w, err)
					}
				}
				// What helm itself says, after the line naming the command.
				if _, said, _ := strings.Cut(err.Error(), "\n"); strings.Contains(said, "hunter2") {
					t.Errorf("helm %s %v: the error repeats the password:\n%v", verb[0], c.args, err)
				}
			}
		})
	}
}
