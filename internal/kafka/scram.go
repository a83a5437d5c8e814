package kafka

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// scramFromFile is kafka-go's SCRAM mechanism with the password read from its
// file for each connection, so that a Secret rotated by Strimzi is picked up
// without a restart.
type scramFromFile struct {
	name     string
	algo     scram.Algorithm
	user     string
	password func() (string, error)
}

func newSCRAM(mechanism, user string, password func() (string, error)) (sasl.Mechanism, error) {
	m := scramFromFile{name: mechanism, user: user, password: password}
	switch mechanism {
	case MechanismSCRAMSHA512:
		m.algo = scram.SHA512
	case MechanismSCRAMSHA256:
		m.algo = scram.SHA256
	default:
		return nil, fmt.Errorf("%s: unknown SCRAM mechanism %q", FlagSASLMechanism, mechanism)
	}
	return m, nil
}

func (m scramFromFile) Name() string { return m.name }

func (m scramFromFile) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	pass, err := m.password()
	if err != nil {
		return nil, nil, err
	}
	mech, err := scram.Mechanism(m.algo, m.user, pass)
	if err != nil {
		return nil, nil, fmt.Errorf("SCRAM for user %q: %w", m.user, err)
	}
	return mech.Start(ctx)
}
