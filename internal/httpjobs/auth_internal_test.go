package httpjobs

import (
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
)

// After the first line, refusals within the interval are counted, not
// logged, and the next line after the interval carries their number.
func TestRefusalsAreCountedBetweenLines(t *testing.T) {
	var got []string
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &refusals{every: time.Minute, now: func() time.Time { return now },
		log: funcr.New(func(_, args string) { got = append(got, args) }, funcr.Options{})}
	for range 4 {
		r.add("10.0.0.9:4242", refusedWrongToken)
	}
	now = now.Add(30 * time.Second)
	r.add("10.0.0.9:4242", refusedWrongToken)
	if len(got) != 1 || !strings.Contains(got[0], `"refused"=1`) {
		t.Fatalf("within the first minute: %q, want one line counting the first refusal", got)
	}
	now = now.Add(31 * time.Second)
	r.add("10.0.0.7:999", refusedNoToken)
	if len(got) != 2 {
		t.Fatalf("after the interval: %d lines, want 2: %q", len(got), got)
	}
	for _, want := range []string{`"refused"=5`, `"lastFrom"="10.0.0.7:999"`, `"lastWhy"="no bearer token"`} {
		if !strings.Contains(got[1], want) {
			t.Errorf("the second line does not say %s: %s", want, got[1])
		}
	}
}
