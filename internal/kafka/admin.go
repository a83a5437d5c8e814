package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

// checkTimeout bounds Check and EnsureTopics when their context has no
// deadline: a start-up check must fail, not hang.
const checkTimeout = 15 * time.Second

// Check connects to the cluster as cfg says and verifies that the
// credentials work and that the topics exist (cfg.Topic when none are
// given; the manager should pass cfg.Topic and cfg.ListingTopic, the
// worker those and cfg.DeadLetterTopic, after WithDefaults). It
// returns at the first problem, with a one-line error that says what to fix
// and names the flag: wrong password, unknown mechanism, TLS mismatch,
// missing topic, missing ACL. The binaries call it at start, so that such a
// mistake is not a retry loop in the logs.
//
// It does not create topics: metadata is requested without auto-creation.
func Check(ctx context.Context, cfg Config, topics ...string) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(topics) == 0 {
		topics = []string{cfg.Topic}
	}
	for _, t := range topics {
		if err := validateTopicName(t); err != nil || t == "" {
			// An empty name typically is a Config field left to its
			// default: pass cfg.WithDefaults().DeadLetterTopic.
			return fmt.Errorf("kafka: cannot check topic %q: not a topic name", t)
		}
	}
	ctx, cancel := withDefaultTimeout(ctx, checkTimeout)
	defer cancel()

	// A Dialer surfaces TCP, TLS and SASL failures one broker at a time,
	// with the broker's address, before anything else is tried.
	conn, addr, err := dialAny(ctx, cfg)
	if err != nil {
		return err
	}
	_ = conn.Close()

	// Metadata through a Transport: its request does not ask the broker to
	// auto-create missing topics (kafka-go's Conn.ReadPartitions does).
	t, err := cfg.Transport()
	if err != nil {
		return err
	}
	t.MetadataTopics = topics
	defer t.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: t}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return explain(cfg, addr, err)
	}
	for _, tm := range md.Topics {
		flag := topicFlag(cfg, tm.Name)
		switch {
		case errors.Is(tm.Error, kafka.UnknownTopicOrPartition):
			hint := ""
			if cfg.SASLMechanism != "" {
				hint = fmt.Sprintf(" or user %q may not describe it (KafkaUser ACLs)", cfg.Username)
			}
			return fmt.Errorf("kafka topic %q does not exist%s: create it (e.g. a Strimzi KafkaTopic) or fix %s", tm.Name, hint, flag)
		case errors.Is(tm.Error, kafka.TopicAuthorizationFailed):
			return fmt.Errorf("kafka user %q may not use topic %q (%s): grant it in the KafkaUser's ACLs", cfg.Username, tm.Name, flag)
		case tm.Error != nil:
			return fmt.Errorf("kafka topic %q (%s): %w", tm.Name, flag, tm.Error)
		case len(tm.Partitions) == 0:
			return fmt.Errorf("kafka topic %q (%s) has no partitions", tm.Name, flag)
		}
	}
	return nil
}

// EnsureTopics creates the topics that do not exist yet, each with
// partitions partitions and replication factor 1, and waits until the
// cluster serves them. Existing topics are left as they are. It is for the
// local dev mode and tests; production topics come from Strimzi KafkaTopic
// resources with a real replication factor.
func EnsureTopics(ctx context.Context, cfg Config, partitions int, topics ...string) error {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if partitions < 1 {
		return fmt.Errorf("kafka: cannot create topics with %d partitions", partitions)
	}
	if len(topics) == 0 {
		return nil
	}
	ctx, cancel := withDefaultTimeout(ctx, checkTimeout)
	defer cancel()

	conn, _, err := dialAny(ctx, cfg)
	if err != nil {
		return err
	}
	controller, err := withConnDeadline(ctx, conn, conn.Controller)
	_ = conn.Close()
	if err != nil {
		return fmt.Errorf("kafka: finding the controller broker: %w", err)
	}
	dialer, err := cfg.Dialer()
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(controller.Host, strconv.Itoa(controller.Port))
	cc, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return explain(cfg, addr, err)
	}
	defer cc.Close()

	configs := make([]kafka.TopicConfig, len(topics))
	for i, t := range topics {
		configs[i] = kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: 1}
	}
	// kafka-go's CreateTopics ignores TopicAlreadyExists.
	if _, err := withConnDeadline(ctx, cc, func() (struct{}, error) { return struct{}{}, cc.CreateTopics(configs...) }); err != nil {
		return fmt.Errorf("kafka: creating topics %s: %w", strings.Join(topics, ", "), err)
	}

	// Creation is asynchronous in Kafka: wait until every topic has
	// partitions with leaders, so that the caller can publish at once.
	for {
		parts, err := withConnDeadline(ctx, cc, func() ([]kafka.Partition, error) { return cc.ReadPartitions(topics...) })
		if err == nil && allServed(parts, topics) {
			return nil
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("kafka: waiting for topics %s: %w", strings.Join(topics, ", "), err)
		}
	}
}

func allServed(parts []kafka.Partition, topics []string) bool {
	led := make(map[string]bool)
	for _, p := range parts {
		if p.Error == nil && p.Leader.Host != "" {
			led[p.Topic] = true
		}
	}
	for _, t := range topics {
		if !led[t] {
			return false
		}
	}
	return true
}

// dialAny connects to the first broker of cfg.Brokers that answers. An
// authentication or TLS failure ends the search at once: another broker of
// the same cluster will say the same.
func dialAny(ctx context.Context, cfg Config) (*kafka.Conn, string, error) {
	dialer, err := cfg.Dialer()
	if err != nil {
		return nil, "", err
	}
	var errs []string
	for _, addr := range cfg.Brokers {
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn, addr, nil
		}
		if e := explain(cfg, addr, err); !isReachability(err) || ctx.Err() != nil {
			return nil, addr, e
		}
		errs = append(errs, err.Error())
	}
	return nil, "", fmt.Errorf("kafka: no broker reachable (%s=%s): %s",
		FlagBrokers, strings.Join(cfg.Brokers, ","), strings.Join(errs, "; "))
}

// isReachability reports a failure to reach the broker at all, as opposed
// to one of what it answered.
func isReachability(err error) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	return errors.As(err, &opErr) && opErr.Op == "dial" || errors.As(err, &dnsErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH)
}

// explain turns a connection error into one that says which flag to fix.
func explain(cfg Config, addr string, err error) error {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	var notTLS tls.RecordHeaderError
	switch {
	case errors.Is(err, kafka.SASLAuthenticationFailed):
		return explained{err, fmt.Sprintf("kafka: authentication failed for user %q (%s) at %s: check %s and %s",
			cfg.Username, cfg.SASLMechanism, addr, FlagUsername, FlagPasswordFile)}
	case errors.Is(err, kafka.UnsupportedSASLMechanism):
		return explained{err, fmt.Sprintf("kafka: the broker at %s does not accept %s=%s", addr, FlagSASLMechanism, cfg.SASLMechanism)}
	case errors.Is(err, kafka.IllegalSASLState):
		return fmt.Errorf("kafka: the broker at %s refused SASL; is SASL enabled on this listener? (%s): %w", addr, FlagSASLMechanism, err)
	case errors.As(err, &unknownCA), errors.As(err, &verify):
		return fmt.Errorf("kafka: the certificate of the broker at %s is not signed by a trusted CA (%s): %w", addr, caFlag(cfg), err)
	case errors.As(err, &hostname):
		return fmt.Errorf("kafka: the certificate of the broker at %s is not valid for that name (%s): %w", addr, FlagBrokers, err)
	case errors.As(err, &notTLS):
		return explained{err, fmt.Sprintf("kafka: the broker at %s does not speak TLS: drop %s/%s or use its TLS listener (%s)", addr, FlagTLS, FlagTLSCA, FlagBrokers)}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
		// The broker hung up on something it did not understand.
		return fmt.Errorf("kafka: the broker at %s closed the connection (%s): %w", addr, hangUpHints(cfg), err)
	case cfg.tlsEnabled() && errors.Is(err, context.DeadlineExceeded) && !isReachability(err):
		// A plaintext broker reads a TLS ClientHello as the start of a
		// huge request and waits for the rest.
		return fmt.Errorf("kafka: no answer from the broker at %s (if its listener is plaintext, drop %s/%s): %w", addr, FlagTLS, FlagTLSCA, err)
	}
	return fmt.Errorf("kafka: broker %s: %w", addr, err)
}

// explained is an error whose own message says it all; the cause stays
// reachable for errors.Is and errors.As.
type explained struct {
	cause error
	msg   string
}

func (e explained) Error() string { return e.msg }
func (e explained) Unwrap() error { return e.cause }

// hangUpHints lists what may make a broker close the connection at once.
func hangUpHints(cfg Config) string {
	var hints []string
	if cfg.tlsEnabled() {
		hints = append(hints, "if its listener is plaintext, drop "+FlagTLS+"/"+FlagTLSCA)
	} else {
		hints = append(hints, "if its listener uses TLS, set "+FlagTLSCA)
	}
	if cfg.SASLMechanism == "" {
		hints = append(hints, "if it requires SASL, set "+FlagSASLMechanism)
	}
	return strings.Join(hints, "; ")
}

func caFlag(cfg Config) string {
	if cfg.TLSCAFile != "" {
		return FlagTLSCA + "=" + cfg.TLSCAFile
	}
	return FlagTLSCA
}

func topicFlag(cfg Config, topic string) string {
	switch topic {
	case cfg.Topic:
		return FlagTopic
	case cfg.DeadLetterTopic:
		return FlagDeadLetterTopic
	case cfg.ListingTopic:
		return FlagListingTopic
	}
	return "topic " + topic
}

// withConnDeadline runs op with conn's deadline set from ctx: kafka-go's
// Conn methods do not take a context.
func withConnDeadline[T any](ctx context.Context, conn *kafka.Conn, op func() (T, error)) (T, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
		defer conn.SetDeadline(time.Time{})
	}
	return op()
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
