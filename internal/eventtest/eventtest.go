// Package eventtest is an event recorder for unit tests: it keeps the
// Events a controller or worker records, so that a test can check which
// were recorded, in order. (client-go's events.FakeRecorder writes them
// as strings to a channel of fixed size, which a test would then parse.)
package eventtest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Event is one recorded Event.
type Event struct {
	Object, Type, Reason, Note string
}

// Log is a recorder.EventRecorder that keeps what it is told. It is safe
// for concurrent use.
type Log struct {
	mu   sync.Mutex
	list []Event
}

// Eventf records an Event about regarding (a client.Object).
func (l *Log) Eventf(regarding, _ runtime.Object, typ, reason, _, note string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, Event{Object: regarding.(client.Object).GetName(), Type: typ, Reason: reason, Note: fmt.Sprintf(note, args...)})
}

// AnnotatedEventf is Eventf; the annotations are not kept.
func (l *Log) AnnotatedEventf(regarding, related runtime.Object, _ map[string]string, typ, reason, action, note string, args ...any) {
	l.Eventf(regarding, related, typ, reason, action, note, args...)
}

// Take returns the Events recorded since the last Take, and forgets them.
func (l *Log) Take() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.list
	l.list = nil
	return e
}

// Want checks that exactly these Events ("Type Reason") were recorded since
// the last Take or Want, and returns them.
func (l *Log) Want(t testing.TB, want ...string) []Event {
	t.Helper()
	got := l.Take()
	var names []string
	for _, e := range got {
		names = append(names, e.Type+" "+e.Reason)
	}
	if !slices.Equal(names, want) {
		t.Errorf("events %q, want %q", names, want)
	}
	return got
}
