package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Start-up order: the manager and the worker start whatever Kafka and the
// storage are doing. On a first install Strimzi needs minutes to bring the
// cluster up, and then its Topic and User Operators make the topics, the
// users' Secrets and their ACLs one after the other; an S3 bucket may come
// from another chart. A program that exited at start until all of that
// exists would crash-loop with a growing back-off and come up long after
// its peers did. So each program takes only its own flags (and a storage
// directory on its own volume, see openStorage) as reasons to exit: they
// cannot change without a restart. Everything a peer does or
// says (no answer, a refused password, a missing topic, ACL or bucket) is
// a reason not to be ready yet: /readyz answers 503 naming it, the log
// says it, with what to fix, whenever it changes, and the check runs again
// after a short, capped back-off, so that the program is ready within
// seconds of the peer being there. A corrected Kafka password is picked up
// without a restart: the Kafka client reads --kafka-password-file on every
// connection, and the kubelet updates a mounted Secret when it changes.

// Back-off of the start-up checks while a peer is missing: short at first,
// so that a program is ready within seconds of the peer, and capped low,
// as a check is one connection and one small request.
const (
	peerRetryFirst = time.Second
	peerRetryMax   = 5 * time.Second
	// peerRecheck is how often a peer that was there is looked at again:
	// readiness turns 503 again within this (plus a check's timeout)
	// after it goes away.
	peerRecheck = 10 * time.Second
	// peerCheckTimeout bounds one check, so that a peer that accepts a
	// connection and never answers is a reason like any other.
	peerCheckTimeout = 10 * time.Second
	// peerRepeat is how often a reason that does not change is logged
	// again, so that the end of a long log still says why.
	peerRepeat = time.Minute
)

// errNotChecked is a peer's state before its first check has returned.
var errNotChecked = errors.New("not checked yet")

// peer is a service a program needs and may start before: Kafka or the
// storage.
type peer struct {
	name  string
	check func(context.Context) error

	mu     sync.Mutex
	err    error     // of the last check; errNotChecked before the first
	logged time.Time // when err was last logged
	since  time.Time // when the peer was last found missing after being there, or the watch began
	up     chan struct{}
	once   sync.Once
}

// peers watches a program's peers: it checks each until it is there, then
// now and then, and serves the result as /readyz. It runs in every
// replica, leader or not (a standby manager is ready, too), and from the
// program's start, not as a controller-runtime runnable: those start only
// once the caches have synced with the API server, and the peers' reasons
// must show even while the API server cannot be reached.
type peers struct {
	list []*peer
	log  logr.Logger
	// Timings: the constants above, shorter in unit tests.
	first, max, recheck, timeout, repeat time.Duration
}

func newPeers(log logr.Logger) *peers {
	return &peers{log: log, first: peerRetryFirst, max: peerRetryMax, recheck: peerRecheck, timeout: peerCheckTimeout, repeat: peerRepeat}
}

// add registers a peer named name (the first word of its lines in
// /readyz) with the check that says whether it can be used.
func (ps *peers) add(name string, check func(context.Context) error) {
	ps.list = append(ps.list, &peer{name: name, check: check, err: errNotChecked, up: make(chan struct{})})
}

// run starts Start in the background; the returned channel is closed
// when it has returned, after ctx ended.
func (ps *peers) run(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ps.Start(ctx) //nolint:errcheck // always nil
	}()
	return done
}

// Start checks every peer until ctx ends.
func (ps *peers) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, p := range ps.list {
		wg.Go(func() { ps.watch(ctx, p) })
	}
	wg.Wait()
	return nil
}

func (ps *peers) watch(ctx context.Context, p *peer) {
	p.mu.Lock()
	p.since = time.Now()
	p.mu.Unlock()
	delay := ps.first
	for {
		cctx, cancel := context.WithTimeout(ctx, ps.timeout)
		err := p.check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		ps.record(p, err)
		wait := ps.recheck
		if err != nil {
			wait, delay = delay, min(2*delay, ps.max)
		} else {
			delay = ps.first
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// record keeps a check's result and logs what changed: the first success,
// a loss, or a new reason (and an old one again every ps.repeat).
func (ps *peers) record(p *peer, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.err
	p.err = err
	now := time.Now()
	switch {
	case err == nil && old != nil:
		p.once.Do(func() { close(p.up) })
		ps.log.Info(p.name+" is ready", "peer", p.name, "waited", now.Sub(p.since).Round(time.Millisecond).String())
	case err == nil:
	case old == nil:
		ps.log.Info(p.name+" is gone: not ready until it is back", "peer", p.name, "reason", err.Error())
		p.logged, p.since = now, now
	case old.Error() != err.Error() || now.Sub(p.logged) >= ps.repeat:
		ps.log.Info("waiting for "+p.name+": not ready until it is there; checking again within "+ps.max.String(), "peer", p.name, "reason", err.Error())
		p.logged = now
	}
}

// state is p's last result.
func (p *peer) state() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// ready is nil when every peer passed its last check, else an error with
// one line per missing peer, each starting with the peer's name.
func (ps *peers) ready() error {
	var lines []string
	for _, p := range ps.list {
		if err := p.state(); err != nil {
			lines = append(lines, p.reason(err))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return errors.New(strings.Join(lines, "\n"))
}

// reason is err as a line of /readyz: prefixed with the peer's name unless
// the error already starts with it (kafka.Check's and the stores' do).
func (p *peer) reason(err error) string {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if strings.HasPrefix(msg, p.name) {
		return msg
	}
	return p.name + ": " + msg
}

// wait returns when every peer has passed a check once, or ctx ended.
func (ps *peers) wait(ctx context.Context) error {
	for _, p := range ps.list {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.up:
		}
	}
	return nil
}

// serveReadyz answers 200 "ok" when every peer is there, else 503 with
// one line per missing peer that says why. controller-runtime's own
// /readyz answers 500 and withholds the reason; this one is served on the
// probe port only, and the reasons name addresses, users, topics and
// buckets, never a secret.
func (ps *peers) serveReadyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := ps.ready(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, err)
		return
	}
	fmt.Fprint(w, "ok")
}

// probeServer serves /healthz (liveness: the process runs; it stays 200
// while a peer is missing, so that the kubelet does not restart a program
// that only waits) and /readyz (the peers) on addr; nil when addr is ""
// or "0". It listens at once, so that a taken port stops the program at
// start.
func probeServer(addr string, ps *peers) (*manager.Server, error) {
	if addr == "" || addr == "0" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--health-probe-bind-address %s: %w", addr, err)
	}
	live := &healthz.Handler{Checks: map[string]healthz.Checker{"ping": healthz.Ping}}
	mux := http.NewServeMux()
	mux.Handle("/healthz", http.StripPrefix("/healthz", live))
	mux.Handle("/healthz/", http.StripPrefix("/healthz", live))
	mux.HandleFunc("/readyz", ps.serveReadyz)
	shutdown := 5 * time.Second
	return &manager.Server{
		Name:            "health probe",
		Server:          &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		Listener:        ln,
		ShutdownTimeout: &shutdown,
	}, nil
}
