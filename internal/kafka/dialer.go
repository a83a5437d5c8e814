package kafka

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
)

// dialTimeout bounds TCP connect + TLS handshake + SASL exchange, so that an
// unreachable broker is an error and not a hang.
const dialTimeout = 10 * time.Second

// Dialer returns the kafka-go Dialer for c: what consumer groups (Reader) and
// raw connections (Check, EnsureTopics) use.
func (c Config) Dialer() (*kafka.Dialer, error) {
	c = c.WithDefaults()
	tlsCfg, mech, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{
		ClientID:      c.ClientID,
		Timeout:       dialTimeout,
		DualStack:     true,
		KeepAlive:     30 * time.Second,
		TLS:           tlsCfg,
		SASLMechanism: mech,
	}, nil
}

// Transport returns the kafka-go Transport for c: what Writers and Clients
// use. The caller owns it and must call CloseIdleConnections when done, or
// its metadata goroutine and connections stay behind.
func (c Config) Transport() (*kafka.Transport, error) {
	c = c.WithDefaults()
	tlsCfg, mech, err := c.security()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{
		Dial:        (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		DialTimeout: dialTimeout,
		ClientID:    c.ClientID,
		TLS:         tlsCfg,
		SASL:        mech,
	}, nil
}

// security builds the TLS config and SASL mechanism, both nil when off.
func (c Config) security() (*tls.Config, sasl.Mechanism, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	var tlsCfg *tls.Config
	if c.tlsEnabled() {
		// ServerName stays empty: kafka-go fills it per broker from the
		// address it dials, which is what Strimzi's certificates list.
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		if c.TLSCAFile != "" {
			pool, err := loadCAPool(c.TLSCAFile)
			if err != nil {
				return nil, nil, flagError(FlagTLSCA, "%v", err)
			}
			tlsCfg.RootCAs = pool
		}
	}
	if c.SASLMechanism == "" {
		return tlsCfg, nil, nil
	}
	file := c.PasswordFile
	password := func() (string, error) {
		p, err := readPassword(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", FlagPasswordFile, err)
		}
		return p, nil
	}
	if c.SASLMechanism == MechanismPlain {
		return tlsCfg, plainFromFile{user: c.Username, password: password}, nil
	}
	mech, err := newSCRAM(c.SASLMechanism, c.Username, password)
	return tlsCfg, mech, err
}

// plainFromFile is kafka-go's PLAIN mechanism with the password read per
// connection, like the SCRAM one, so that a rotated secret is picked up.
type plainFromFile struct {
	user     string
	password func() (string, error)
}

func (p plainFromFile) Name() string { return MechanismPlain }

func (p plainFromFile) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	pass, err := p.password()
	if err != nil {
		return nil, nil, err
	}
	return plain.Mechanism{Username: p.user, Password: pass}.Start(ctx)
}
