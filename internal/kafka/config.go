// Package kafka is ytx's only door to Kafka: the controller publishes one job
// message per attempt with a Publisher, extractor workers consume them with a
// Consumer, and both binaries call Check at start so that a wrong
// password or a missing topic is a clear one-line error instead of a retry
// loop in the logs.
//
// The client is github.com/segmentio/kafka-go. Everything that connects (the
// Dialer for consumer groups, the Transport for writers and admin calls) is
// built from one Config in dialer.go, so TLS and SASL are set up in one place.
package kafka

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"ytx.dev/ytx/internal/job"
)

// Defaults of the Config fields that have one. They match the CLI flags'
// defaults and the topics that the Helm chart's KafkaTopic resources create.
const (
	DefaultTopic           = "ytx.extractions"
	DefaultGroup           = "ytx-workers"
	DefaultDeadLetterTopic = "ytx.extractions.dlq"
	DefaultClientID        = "ytx"
	// DefaultListingTopic carries the listing jobs of playlists. It is not
	// the job topic so that workers built before listings existed, which
	// never read it, never see one (see Config.ListingTopic).
	DefaultListingTopic = "ytx.listings"
	// ListingGroupSuffix makes the default listing group: Group + suffix.
	ListingGroupSuffix = ".listings"
	// DefaultSessionTimeout is how long the group coordinator waits for a
	// silent worker (`ytx worker --kafka-session-timeout`).
	DefaultSessionTimeout = 30 * time.Second
)

// Names of the CLI flags that fill a Config. Validation and connection errors
// name the flag to fix, so the binaries must register exactly these.
const (
	FlagBrokers         = "--kafka-brokers"
	FlagTopic           = "--kafka-topic"
	FlagGroup           = "--kafka-group"
	FlagDeadLetterTopic = "--kafka-dead-letter-topic"
	FlagListingTopic    = "--kafka-listing-topic"
	FlagListingGroup    = "--kafka-listing-group"
	FlagTLS             = "--kafka-tls"
	FlagTLSCA           = "--kafka-tls-ca"
	FlagSASLMechanism   = "--kafka-sasl-mechanism"
	FlagUsername        = "--kafka-username"
	FlagPasswordFile    = "--kafka-password-file"
	FlagClientID        = "--kafka-client-id"
)

// SASL mechanisms that Config accepts. Strimzi's KafkaUser with
// authentication type scram-sha-512 needs MechanismSCRAMSHA512.
const (
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismPlain       = "PLAIN"
)

// Config is everything needed to reach the cluster. The zero value plus
// Brokers is a plaintext, unauthenticated connection with the default topic,
// group and dead-letter topic.
type Config struct {
	// Brokers are bootstrap addresses, host:port each.
	Brokers []string
	// Topic carries the job messages. Default DefaultTopic.
	Topic string
	// Group is the workers' consumer group. Default DefaultGroup.
	Group string
	// DeadLetterTopic receives messages that a handler declared poison
	// (see ErrDeadLetter). Default DefaultDeadLetterTopic.
	DeadLetterTopic string
	// ListingTopic carries the listing jobs of playlists (job.KindListing),
	// read by the workers in ListingGroup. Workers built before listings
	// existed do not read it, so during a rolling upgrade a listing job
	// waits for a newer worker instead of reaching one that would
	// dead-letter it. Default DefaultListingTopic.
	ListingTopic string
	// ListingGroup is the workers' consumer group of ListingTopic: a group
	// of its own, so that listings never share partitions or offsets with
	// extractions. Default Group + ListingGroupSuffix.
	ListingGroup string

	// TLS turns TLS on and verifies brokers against the system pool.
	TLS bool
	// TLSCAFile is a PEM bundle (Strimzi: <cluster>-cluster-ca-cert, key
	// ca.crt). Setting it turns TLS on and verifies brokers against it only.
	TLSCAFile string

	// SASLMechanism is "" (none), SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN.
	SASLMechanism string
	// Username is the SASL user (Strimzi: the KafkaUser's name).
	Username string
	// PasswordFile holds the SASL password (Strimzi: the KafkaUser secret's
	// "password" key mounted as a file). It is read again for every new
	// connection, so a rotated secret is picked up without a restart.
	PasswordFile string

	// ClientID is sent to the brokers for their logs and quotas. Default
	// DefaultClientID.
	ClientID string
}

// WithDefaults returns c with empty optional fields set to their defaults.
// Constructors in this package call it; callers need not.
func (c Config) WithDefaults() Config {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = DefaultDeadLetterTopic
	}
	if c.ListingTopic == "" {
		c.ListingTopic = DefaultListingTopic
	}
	if c.ListingGroup == "" {
		c.ListingGroup = c.Group + ListingGroupSuffix
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	c.SASLMechanism = strings.ToUpper(strings.TrimSpace(c.SASLMechanism))
	return c
}

// Listings is the configuration of the listing consumer: c with the
// listing topic and group in place of the job topic and group (and the job
// topic as its listing topic, which it does not read), the same
// dead-letter topic.
func (c Config) Listings() Config {
	c = c.WithDefaults()
	c.Topic, c.ListingTopic = c.ListingTopic, c.Topic
	c.Group, c.ListingGroup = c.ListingGroup, c.Group
	return c
}

// TopicOf is the topic that carries jobs of kind: the listing topic for
// listings, the job topic for everything else (extractions).
func (c Config) TopicOf(kind string) string {
	c = c.WithDefaults()
	if kind == job.KindListing {
		return c.ListingTopic
	}
	return c.Topic
}

// tlsEnabled reports whether connections use TLS.
func (c Config) tlsEnabled() bool { return c.TLS || c.TLSCAFile != "" }

// flagError is a validation error that names the flag to fix.
func flagError(flag, format string, args ...any) error {
	return fmt.Errorf("invalid "+flag+": "+format, args...)
}

// Validate reports the first bad value as a one-line error that names its
// flag. It reads the password and CA files, so it also catches a secret that
// is not mounted.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if len(c.Brokers) == 0 {
		return flagError(FlagBrokers, "no broker address given (want host:port[,host:port...])")
	}
	for _, b := range c.Brokers {
		if err := validateBroker(b); err != nil {
			return flagError(FlagBrokers, "%q: %v", b, err)
		}
	}
	for _, t := range []struct{ flag, name string }{
		{FlagTopic, c.Topic},
		{FlagDeadLetterTopic, c.DeadLetterTopic},
		{FlagListingTopic, c.ListingTopic},
	} {
		if err := validateTopicName(t.name); err != nil {
			return flagError(t.flag, "%q: %v", t.name, err)
		}
	}
	if c.DeadLetterTopic == c.Topic {
		// Dead letters would be consumed again as jobs, forever.
		return flagError(FlagDeadLetterTopic, "%q is the job topic (%s)", c.DeadLetterTopic, FlagTopic)
	}
	switch c.ListingTopic {
	case c.Topic:
		// Workers of every version read the job topic: an older one
		// would take a listing job for poison.
		return flagError(FlagListingTopic, "%q is the job topic (%s)", c.ListingTopic, FlagTopic)
	case c.DeadLetterTopic:
		return flagError(FlagListingTopic, "%q is the dead-letter topic (%s)", c.ListingTopic, FlagDeadLetterTopic)
	}
	if c.ListingGroup == c.Group {
		// One group on two topics would spread one topic's partitions
		// over members that consume the other only.
		return flagError(FlagListingGroup, "%q is the extraction workers' group (%s)", c.ListingGroup, FlagGroup)
	}
	if c.TLSCAFile != "" {
		if _, err := loadCAPool(c.TLSCAFile); err != nil {
			return flagError(FlagTLSCA, "%v", err)
		}
	}
	switch c.SASLMechanism {
	case "":
		if c.Username != "" {
			return flagError(FlagSASLMechanism, "empty, but %s is set (want %s, %s or %s)",
				FlagUsername, MechanismSCRAMSHA512, MechanismSCRAMSHA256, MechanismPlain)
		}
		if c.PasswordFile != "" {
			return flagError(FlagSASLMechanism, "empty, but %s is set (want %s, %s or %s)",
				FlagPasswordFile, MechanismSCRAMSHA512, MechanismSCRAMSHA256, MechanismPlain)
		}
		return nil
	case MechanismSCRAMSHA512, MechanismSCRAMSHA256, MechanismPlain:
	default:
		return flagError(FlagSASLMechanism, "%q is not one of %s, %s, %s",
			c.SASLMechanism, MechanismSCRAMSHA512, MechanismSCRAMSHA256, MechanismPlain)
	}
	if c.Username == "" {
		return flagError(FlagUsername, "empty, but %s=%s needs a user", FlagSASLMechanism, c.SASLMechanism)
	}
	if c.PasswordFile == "" {
		return flagError(FlagPasswordFile, "empty, but %s=%s needs a password", FlagSASLMechanism, c.SASLMechanism)
	}
	if _, err := readPassword(c.PasswordFile); err != nil {
		return flagError(FlagPasswordFile, "%v", err)
	}
	return nil
}

func validateBroker(b string) error {
	host, port, err := net.SplitHostPort(strings.TrimSpace(b))
	if err != nil {
		return errors.New("not host:port")
	}
	if host == "" {
		return errors.New("no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number in 1..65535", port)
	}
	return nil
}

// validateTopicName applies Kafka's own rule, so that a typo fails here and
// not as an opaque InvalidTopicException from the broker.
func validateTopicName(t string) error {
	if t == "." || t == ".." {
		return errors.New("not a legal topic name")
	}
	if len(t) > 249 {
		return errors.New("longer than 249 characters")
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("character %q is not allowed (only a-z A-Z 0-9 . _ -)", r)
		}
	}
	return nil
}

// readPassword reads a password file. A final line break is dropped because
// hand-made secrets (echo pass > file) often carry one; Strimzi's do not.
func readPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	p := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if p == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return p, nil
}

func loadCAPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s contains no PEM certificates", path)
	}
	return pool, nil
}
