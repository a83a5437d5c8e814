package kafka

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	pass := writeFile(t, "password", "s3cret\n")
	empty := writeFile(t, "empty", "")
	nonASCII := writeFile(t, "nonascii", "pässword")
	notPEM := writeFile(t, "ca.crt", "not a certificate\n")
	keyOnly := writeFile(t, "key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	badCert := writeFile(t, "bad.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	missing := filepath.Join(t.TempDir(), "missing")

	ok := Config{Brokers: []string{"kafka:9092"}}
	sasl := Config{Brokers: []string{"kafka:9093"}, SASLMechanism: "SCRAM-SHA-512", Username: "ytx", PasswordFile: pass}
	with := func(base Config, f func(*Config)) Config { f(&base); return base }

	for _, good := range []Config{
		ok,
		sasl,
		with(sasl, func(c *Config) { c.SASLMechanism = "scram-sha-256" }), // case-insensitive
		with(sasl, func(c *Config) { c.SASLMechanism = "PLAIN"; c.PasswordFile = nonASCII }),
		with(ok, func(c *Config) { c.TLS = true; c.Brokers = []string{"[::1]:9093", "10.0.0.1:9093"} }),
	} {
		if err := good.Validate(); err != nil {
			t.Errorf("%+v: %v", good, err)
		}
	}

	for _, tc := range []struct {
		name string
		cfg  Config
		flag string // the error must name it
		also string // and contain this
	}{
		{"no brokers", Config{}, FlagBrokers, "no broker"},
		{"no port", with(ok, func(c *Config) { c.Brokers = []string{"kafka"} }), FlagBrokers, `"kafka"`},
		{"empty host", with(ok, func(c *Config) { c.Brokers = []string{":9092"} }), FlagBrokers, "no host"},
		{"bad port", with(ok, func(c *Config) { c.Brokers = []string{"kafka:http"} }), FlagBrokers, "port"},
		{"port out of range", with(ok, func(c *Config) { c.Brokers = []string{"kafka:9092", "kafka:99999"} }), FlagBrokers, "99999"},
		{"bad topic", with(ok, func(c *Config) { c.Topic = "jobs/x" }), FlagTopic, `'/'`},
		{"bad dlq topic", with(ok, func(c *Config) { c.DeadLetterTopic = ".." }), FlagDeadLetterTopic, ".."},
		{"dlq is the topic", with(ok, func(c *Config) { c.Topic = "jobs"; c.DeadLetterTopic = "jobs" }), FlagDeadLetterTopic, FlagTopic},
		{"bad listing topic", with(ok, func(c *Config) { c.ListingTopic = "lists?" }), FlagListingTopic, `'?'`},
		{"listing topic is the job topic", with(ok, func(c *Config) { c.ListingTopic = DefaultTopic }), FlagListingTopic, FlagTopic},
		{"listing topic is the dlq", with(ok, func(c *Config) { c.ListingTopic = DefaultDeadLetterTopic }), FlagListingTopic, FlagDeadLetterTopic},
		{"listing group is the group", with(ok, func(c *Config) { c.ListingGroup = DefaultGroup }), FlagListingGroup, FlagGroup},
		{"unknown mechanism", with(sasl, func(c *Config) { c.SASLMechanism = "GSSAPI" }), FlagSASLMechanism, "GSSAPI"},
		{"user without mechanism", with(ok, func(c *Config) { c.Username = "ytx" }), FlagSASLMechanism, FlagUsername},
		{"password without mechanism", with(ok, func(c *Config) { c.PasswordFile = pass }), FlagSASLMechanism, FlagPasswordFile},
		{"mechanism without user", with(sasl, func(c *Config) { c.Username = "" }), FlagUsername, "SCRAM-SHA-512"},
		{"mechanism without password", with(sasl, func(c *Config) { c.PasswordFile = "" }), FlagPasswordFile, "SCRAM-SHA-512"},
		{"unreadable password", with(sasl, func(c *Config) { c.PasswordFile = missing }), FlagPasswordFile, "no such file"},
		{"empty password", with(sasl, func(c *Config) { c.PasswordFile = empty }), FlagPasswordFile, "empty"},
		{"unreadable CA", with(ok, func(c *Config) { c.TLSCAFile = missing }), FlagTLSCA, "no such file"},
		{"CA not PEM", with(ok, func(c *Config) { c.TLSCAFile = notPEM }), FlagTLSCA, "no PEM certificates"},
		{"CA without certificate", with(ok, func(c *Config) { c.TLSCAFile = keyOnly }), FlagTLSCA, "no PEM certificates"},
		{"CA not a certificate", with(ok, func(c *Config) { c.TLSCAFile = badCert }), FlagTLSCA, badCert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.flag) || !strings.Contains(msg, tc.also) {
				t.Errorf("error %q should name %s and contain %q", msg, tc.flag, tc.also)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if strings.Contains(msg, "s3cret") {
				t.Errorf("error leaks the password: %q", msg)
			}
			// Constructors refuse the same configuration.
			if _, err := NewPublisher(tc.cfg); err == nil {
				t.Error("NewPublisher accepted it")
			}
			if _, err := NewConsumer(tc.cfg, ConsumerOptions{}); err == nil {
				t.Error("NewConsumer accepted it")
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{Brokers: []string{"k:1"}, SASLMechanism: " scram-sha-512 "}.WithDefaults()
	if c.Topic != DefaultTopic || c.Group != DefaultGroup || c.DeadLetterTopic != DefaultDeadLetterTopic || c.ClientID != DefaultClientID {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.ListingTopic != DefaultListingTopic || c.ListingGroup != DefaultGroup+ListingGroupSuffix {
		t.Errorf("listing defaults not applied: %+v", c)
	}
	if g := (Config{Group: "mine"}).WithDefaults().ListingGroup; g != "mine"+ListingGroupSuffix {
		t.Errorf("listing group of group %q: %q, want it derived from the group", "mine", g)
	}
	if c.SASLMechanism != MechanismSCRAMSHA512 {
		t.Errorf("mechanism %q not normalised", c.SASLMechanism)
	}
}

func TestReadPasswordDropsOneLineBreak(t *testing.T) {
	for content, want := range map[string]string{
		"pw":       "pw",
		"pw\n":     "pw",
		"pw\r\n":   "pw",
		" pw \n":   " pw ", // spaces may be part of a password
		"pw\n\n":   "pw\n",
		"a\nb":     "a\nb",
		"pw\n\r\n": "pw\n",
	} {
		got, err := readPassword(writeFile(t, "p", content))
		if err != nil || got != want {
			t.Errorf("readPassword(%q) = %q, %v; want %q", content, got, err, want)
		}
	}
}

// The listing consumer reads the listing topic in the listing group, and
// dead-letters to the same topic as the extraction consumer.
func TestListingsConfig(t *testing.T) {
	c := Config{Brokers: []string{"k:1"}, Topic: "jobs", Group: "workers", DeadLetterTopic: "dead", ListingTopic: "lists"}
	l := c.Listings()
	if l.Topic != "lists" || l.Group != "workers.listings" || l.DeadLetterTopic != "dead" {
		t.Errorf("Listings() = topic %q, group %q, dead letters %q; want lists, workers.listings, dead", l.Topic, l.Group, l.DeadLetterTopic)
	}
	if err := l.Validate(); err != nil {
		t.Errorf("the listing consumer's config is refused: %v", err)
	}
}
