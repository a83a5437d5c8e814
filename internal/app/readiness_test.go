package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
)

// switchable is a peer's answer that the test changes.
type switchable struct {
	mu  sync.Mutex
	err error
	n   int
}

func (s *switchable) set(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *switchable) check(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return s.err
}

func (s *switchable) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// fastPeers are peers checked every few milliseconds, with their log.
func fastPeers(t *testing.T) (*peers, *logLines) {
	log := &logLines{}
	ps := newPeers(funcr.New(log.add, funcr.Options{}))
	ps.first, ps.max, ps.recheck, ps.timeout, ps.repeat = 5*time.Millisecond, 20*time.Millisecond, 20*time.Millisecond, time.Second, time.Hour
	return ps, log
}

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, args)
}

func (l *logLines) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, sub) {
			n++
		}
	}
	return n
}

// serve runs ps and its probe server until the test ends and returns the
// server's address.
func serve(t *testing.T, ps *peers) string {
	t.Helper()
	srv, err := probeServer("127.0.0.1:0", ps)
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Listener.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { ps.Start(ctx) })  //nolint:errcheck // always nil
	wg.Go(func() { srv.Start(ctx) }) //nolint:errcheck // the test sees a dead server as failed requests
	t.Cleanup(func() { cancel(); wg.Wait() })
	return addr
}

func probe(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path) //nolint:noctx
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// until polls probe until ok, for 10 s at most.
func until(t *testing.T, addr string, what string, ok func(code int, body string) bool) {
	t.Helper()
	var code int
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if code, body = probe(t, addr, "/readyz"); ok(code, body) {
			return
		}
	}
	t.Fatalf("/readyz never %s; last %d %q", what, code, body)
}

// A missing peer makes /readyz 503 with one line per peer that says what
// is missing, while /healthz stays 200; once the peers are there /readyz
// is 200, and a peer that goes away makes it 503 again.
func TestReadyzNamesEveryMissingPeerAndHealthzStaysOK(t *testing.T) {
	ps, _ := fastPeers(t)
	kafka := &switchable{err: errors.New("kafka: no broker reachable (--kafka-brokers=127.0.0.1:9092): connection refused")}
	store := &switchable{err: errors.New(`bucket "media" does not exist at 127.0.0.1:9000: create it`)}
	ps.add("kafka", kafka.check)
	ps.add("storage", store.check)
	addr := serve(t, ps)

	until(t, addr, "503 with both reasons", func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && !strings.Contains(body, errNotChecked.Error())
	})
	_, body := probe(t, addr, "/readyz")
	want := "kafka: no broker reachable (--kafka-brokers=127.0.0.1:9092): connection refused\n" +
		`storage: bucket "media" does not exist at 127.0.0.1:9000: create it` + "\n"
	if body != want {
		t.Errorf("/readyz body %q, want %q (the kafka error already starts with its name; the storage one gets it)", body, want)
	}
	if code, body := probe(t, addr, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while peers are missing: %d %q, want 200", code, body)
	}

	kafka.set(nil)
	until(t, addr, "503 with the storage only", func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && !strings.Contains(body, "kafka")
	})
	store.set(nil)
	until(t, addr, "200", func(code int, body string) bool { return code == http.StatusOK && body == "ok" })

	store.set(errors.New("storage s3://media: connection refused"))
	until(t, addr, "503 again when the storage goes", func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && body == "storage s3://media: connection refused\n"
	})
	if code, _ := probe(t, addr, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with the storage gone: %d, want 200", code)
	}
}

// wait (what the worker does before it joins the consumer group) returns
// only once every peer has been there.
func TestWaitReturnsOnceEveryPeerWasThere(t *testing.T) {
	ps, _ := fastPeers(t)
	kafka, store := &switchable{}, &switchable{err: errors.New("storage: down")}
	ps.add("kafka", kafka.check)
	ps.add("storage", store.check)
	serve(t, ps)

	waited := make(chan error, 1)
	go func() { waited <- ps.wait(context.Background()) }()
	for store.calls() < 5 {
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-waited:
		t.Fatal("wait returned while the storage was missing")
	default:
	}
	store.set(nil)
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not return once every peer was there")
	}
}

// A reason is logged when it changes, not at every check, so that the log
// stays readable during minutes of waiting; and the peer's arrival is
// logged once.
func TestPeerReasonIsLoggedWhenItChanges(t *testing.T) {
	ps, log := fastPeers(t)
	kafka := &switchable{err: errors.New("kafka: no broker reachable")}
	ps.add("kafka", kafka.check)
	serve(t, ps)

	for kafka.calls() < 10 {
		time.Sleep(5 * time.Millisecond)
	}
	kafka.set(errors.New(`kafka topic "jobs" does not exist: create it`))
	n := kafka.calls()
	for kafka.calls() < n+10 {
		time.Sleep(5 * time.Millisecond)
	}
	kafka.set(nil)
	for deadline := time.Now().Add(10 * time.Second); log.count("kafka is ready") == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if got := log.count("no broker reachable"); got != 1 {
		t.Errorf("the first reason was logged %d times over 10 checks, want once", got)
	}
	if got := log.count(`does not exist: create it`); got != 1 {
		t.Errorf("the second reason was logged %d times, want once", got)
	}
	if got := log.count("kafka is ready"); got != 1 {
		t.Errorf("the arrival was logged %d times, want once", got)
	}
}
