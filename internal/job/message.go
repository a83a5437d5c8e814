// Package job defines the message that the controller publishes for each
// attempt of an extraction and that workers consume. It is a pointer, not a
// copy: the worker reads the resource itself, so it never acts on a stale spec.
package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
)

// Version is the message format version this build writes and reads.
const Version = 1

// MaxSize bounds an encoded message. Real ones are about 150 bytes; anything
// bigger is garbage and is refused before it is parsed.
const MaxSize = 4096

// Job kinds. An extraction's message carries no kind, as before kinds
// existed, so that every worker ever deployed reads it.
const (
	KindExtraction = ""
	// KindListing asks for the listing of a YouTubePlaylist; Attempt is
	// the playlist's status.sync.
	KindListing = "listing"
)

// Message names one attempt of one generation of one YouTubeExtraction,
// or one sync of a YouTubePlaylist (Kind).
type Message struct {
	Version    int       `json:"v"`
	Kind       string    `json:"kind,omitempty"`
	Namespace  string    `json:"namespace"`
	Name       string    `json:"name"`
	UID        types.UID `json:"uid"`
	Generation int64     `json:"generation"`
	Attempt    int32     `json:"attempt"`
}

// Key is the Kafka message key: all attempts of one resource go to one
// partition, in order.
func (m Message) Key() string { return m.Namespace + "/" + m.Name }

// NamespacedName is the resource the message points at.
func (m Message) NamespacedName() types.NamespacedName {
	return types.NamespacedName{Namespace: m.Namespace, Name: m.Name}
}

func (m Message) String() string {
	return fmt.Sprintf("%s/%s (generation %d, attempt %d)", m.Namespace, m.Name, m.Generation, m.Attempt)
}

// ErrInvalid wraps every decoding failure, so callers can tell a poison message
// (dead-letter it, never retry) from an infrastructure error.
var ErrInvalid = errors.New("invalid job message")

// ErrUnknownKind is Decode's error for a well-formed message of a kind this
// build does not know: a newer manager's job reaching an older worker
// during a rolling upgrade. It is not poison: a newer worker can run it,
// so transports leave it for another worker instead of dead-lettering it.
// It does not wrap ErrInvalid.
var ErrUnknownKind = errors.New("job of a kind this worker does not know")

// Known reports whether this build runs jobs of kind.
func Known(kind string) bool { return kind == KindExtraction || kind == KindListing }

// Encode returns the wire form of m, stamped with the current Version.
func Encode(m Message) ([]byte, error) {
	m.Version = Version
	if err := m.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// Decode parses and validates a message. Unknown fields, unknown versions and
// missing fields are errors wrapping ErrInvalid. A message of this version
// whose kind this build does not know is ErrUnknownKind, whatever else it
// holds (a later kind may carry fields of its own); the Message returned
// with it has the kind and whatever of the known fields could be read, for
// the log.
func Decode(data []byte) (Message, error) {
	var m Message
	if len(data) > MaxSize {
		return m, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalid, len(data), MaxSize)
	}
	if other, ok := unknownKind(data); ok {
		return other, fmt.Errorf("%w: kind %q (this build knows %q and %q)", ErrUnknownKind, other.Kind, KindExtraction, KindListing)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return m, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalid)
	}
	if m.Version != Version {
		return m, fmt.Errorf("%w: version %d, this build reads version %d", ErrInvalid, m.Version, Version)
	}
	return m, m.validate()
}

// unknownKind reads data leniently (unknown fields allowed, known ones of
// any type skipped) and reports whether it is one JSON object of this
// Version with a kind this build does not know.
func unknownKind(data []byte) (Message, bool) {
	var head struct {
		Version   int             `json:"v"`
		Kind      string          `json:"kind"`
		Namespace json.RawMessage `json:"namespace"`
		Name      json.RawMessage `json:"name"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&head); err != nil || dec.More() || head.Version != Version || Known(head.Kind) {
		return Message{}, false
	}
	m := Message{Version: head.Version, Kind: head.Kind}
	// Only for the log: a wrong type leaves the field empty.
	_ = json.Unmarshal(head.Namespace, &m.Namespace)
	_ = json.Unmarshal(head.Name, &m.Name)
	return m, true
}

func (m Message) validate() error {
	switch {
	case !Known(m.Kind):
		return fmt.Errorf("%w: kind %q", ErrUnknownKind, m.Kind)
	case m.Namespace == "" || len(m.Namespace) > 63:
		return fmt.Errorf("%w: namespace %q", ErrInvalid, m.Namespace)
	case m.Name == "" || len(m.Name) > 253:
		return fmt.Errorf("%w: name %q", ErrInvalid, m.Name)
	case m.UID == "" || len(m.UID) > 128:
		return fmt.Errorf("%w: uid %q", ErrInvalid, m.UID)
	case m.Generation < 1:
		return fmt.Errorf("%w: generation %d", ErrInvalid, m.Generation)
	case m.Attempt < 1:
		return fmt.Errorf("%w: attempt %d", ErrInvalid, m.Attempt)
	}
	return nil
}
