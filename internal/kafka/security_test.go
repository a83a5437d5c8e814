package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// publishAndConsume publishes one job with cfg and consumes it in cfg's group.
func publishAndConsume(t *testing.T, cfg Config) {
	t.Helper()
	if err := newPublisher(t, cfg).Publish(ctxFor(t, 10*time.Second), jobMsg("secure", 1)); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := make(chan kafka.Message, 1)
	c := startConsumer(t, cfg, 1, ConsumerOptions{}, func(ctx context.Context, m kafka.Message) error {
		got <- m
		return nil
	})
	select {
	case m := <-got:
		if string(m.Key) != "ns/secure" {
			t.Errorf("consumed key %q", m.Key)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing consumed")
	}
	c.stop(t)
}

func TestSASLSCRAMSHA512(t *testing.T) {
	t.Parallel()
	cluster := newCluster(t, kfake.EnableSASL(), kfake.Superuser(MechanismSCRAMSHA512, "ytx-worker", "right-password"))
	cfg := Config{
		Brokers:       cluster.ListenAddrs(),
		Topic:         "jobs-sasl",
		Group:         "workers-sasl",
		SASLMechanism: MechanismSCRAMSHA512,
		Username:      "ytx-worker",
		PasswordFile:  writeFile(t, "password", "right-password"),
	}.WithDefaults()
	ensureTopics(t, cfg, 2)
	if err := Check(ctxFor(t, 10*time.Second), cfg, cfg.Topic, cfg.DeadLetterTopic); err != nil {
		t.Fatalf("Check with the right password: %v", err)
	}
	publishAndConsume(t, cfg)

	t.Run("wrong password", func(t *testing.T) {
		bad := cfg
		bad.PasswordFile = writeFile(t, "password", "wrong-password")
		start := time.Now()
		err := Check(context.Background(), bad)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Check took %s", took)
		}
		if err == nil {
			t.Fatal("Check accepted a wrong password")
		}
		t.Log(err)
		for _, want := range []string{"authentication failed", `"ytx-worker"`, FlagPasswordFile} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %s", err, want)
			}
		}
		if !errors.Is(err, kafka.SASLAuthenticationFailed) {
			t.Errorf("error %q does not wrap kafka.SASLAuthenticationFailed", err)
		}
		if strings.Contains(err.Error(), "wrong-password") {
			t.Errorf("error leaks the password: %q", err)
		}
	})

	t.Run("wrong mechanism", func(t *testing.T) {
		// The user exists for SCRAM-SHA-512 only.
		bad := cfg
		bad.SASLMechanism = MechanismSCRAMSHA256
		err := Check(ctxFor(t, 5*time.Second), bad)
		if err == nil || !strings.Contains(err.Error(), "authentication failed") {
			t.Fatalf("got %v, want an authentication error", err)
		}
	})

	t.Run("no SASL", func(t *testing.T) {
		bad := cfg
		bad.SASLMechanism, bad.Username, bad.PasswordFile = "", "", ""
		err := Check(ctxFor(t, 5*time.Second), bad)
		if err == nil || !strings.Contains(err.Error(), FlagSASLMechanism) {
			t.Fatalf("got %v, want an error naming %s", err, FlagSASLMechanism)
		}
	})

	t.Run("consumer with wrong password stops with an error", func(t *testing.T) {
		bad := cfg
		bad.PasswordFile = writeFile(t, "password", "wrong-password")
		c, err := NewConsumer(bad, ConsumerOptions{Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err = c.Run(ctx, 1, func(context.Context, kafka.Message) error { return nil })
		if err == nil || ctx.Err() != nil {
			t.Fatalf("Run = %v (context: %v), want an authentication error before the deadline", err, ctx.Err())
		}
		if !strings.Contains(err.Error(), "SASL") {
			t.Errorf("Run error %q does not say SASL", err)
		}
	})
}

// testCA is a self-signed CA and a broker certificate it signed for
// 127.0.0.1.
type testCA struct {
	caPEM  []byte
	server tls.Certificate
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test cluster CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "broker"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		server: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key},
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	cluster := newCluster(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS12}))
	cfg := Config{
		Brokers:   cluster.ListenAddrs(),
		Topic:     "jobs-tls",
		Group:     "workers-tls",
		TLSCAFile: writeFile(t, "ca.crt", string(ca.caPEM)),
	}
	ensureTopics(t, cfg, 1)
	if err := Check(ctxFor(t, 10*time.Second), cfg); err != nil {
		t.Fatalf("Check: %v", err)
	}
	publishAndConsume(t, cfg)

	t.Run("untrusted CA", func(t *testing.T) {
		other := newTestCA(t)
		bad := cfg
		bad.TLSCAFile = writeFile(t, "other.crt", string(other.caPEM))
		err := Check(ctxFor(t, 5*time.Second), bad)
		if err == nil || !strings.Contains(err.Error(), FlagTLSCA) || !strings.Contains(err.Error(), "not signed by a trusted CA") {
			t.Fatalf("got %v, want a CA error naming %s", err, FlagTLSCA)
		}
	})

	t.Run("system pool does not know the CA", func(t *testing.T) {
		bad := cfg
		bad.TLSCAFile, bad.TLS = "", true
		if err := Check(ctxFor(t, 5*time.Second), bad); err == nil || !strings.Contains(err.Error(), FlagTLSCA) {
			t.Fatalf("got %v, want a CA error naming %s", err, FlagTLSCA)
		}
	})

	t.Run("plaintext client", func(t *testing.T) {
		bad := cfg
		bad.TLSCAFile = ""
		start := time.Now()
		err := Check(ctxFor(t, 20*time.Second), bad)
		if err == nil || !strings.Contains(err.Error(), FlagTLSCA) {
			t.Fatalf("got %v, want an error suggesting %s", err, FlagTLSCA)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("took %s", took)
		}
	})
}

func TestTLSClientOnPlaintextBroker(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newCluster(t), 1)
	cfg.TLS = true
	// kfake, taking the ClientHello for the start of a huge request, waits
	// for the rest (Apache Kafka would refuse the size and hang up).
	err := Check(ctxFor(t, 2*time.Second), cfg)
	if err == nil || !strings.Contains(err.Error(), "if its listener is plaintext, drop "+FlagTLS) {
		t.Fatalf("got %v, want an error suggesting to drop %s", err, FlagTLS)
	}
}
