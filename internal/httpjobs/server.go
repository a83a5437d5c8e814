package httpjobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"ytx.dev/ytx/internal/job"
)

// DefaultAddr is where a worker listens for jobs unless told otherwise.
const DefaultAddr = ":8090"

// Handler runs one job until it is dealt with; see Server.Run.
type Handler func(ctx context.Context, m job.Message) error

// ServerOptions tune a Server; zero values take the defaults.
type ServerOptions struct {
	// Addr is the listen address; default DefaultAddr.
	Addr string
	// Queue is how many accepted jobs may wait for a free slot; default
	// twice the concurrency given to Run.
	Queue int
	// DrainTimeout: once Run's context ends, running jobs have this long
	// before their context is cancelled. Default 20 s.
	DrainTimeout time.Duration
	// Release hands back a job that was accepted but will not run (the
	// worker is stopping), so that the manager sends it elsewhere at once
	// instead of after its queued timeout. It must not block for long.
	Release func(ctx context.Context, m job.Message)
	// Ready, when set, says whether the worker can run jobs now (nil) or
	// why not; a job that comes while it cannot is refused with 503 and
	// the reason, so that the manager tries again later instead of the
	// job failing for nothing (storage not there yet, say).
	Ready func() error
	// Token is what a request must carry (Authorization: Bearer); a
	// request without it is refused with 401 before its body is read.
	// Required: a job endpoint without one takes jobs from anyone who
	// can reach it.
	Token *Token
	// RefusalLogEvery is the least time between two log lines about
	// refused requests (each line counts those since the last); default a
	// minute, so that a scanner cannot flood the log.
	RefusalLogEvery time.Duration
	Log             logr.Logger
}

// Server takes jobs over HTTP (POST Path) and runs them, several at once. It
// listens from NewServer on, so that a taken port stops the worker at start.
type Server struct {
	opts     ServerOptions
	ln       net.Listener
	refused  *refusals
	kinds    *refusals // jobs of a kind this build does not know
	queue    atomic.Pointer[chan job.Message]
	stopping atomic.Bool
	ran      atomic.Bool
}

// NewServer listens on opts.Addr.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 20 * time.Second
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	if opts.Token == nil {
		return nil, fmt.Errorf("http jobs: no token (%s): a job endpoint without one takes jobs from anyone who can reach it", TokenFlag)
	}
	if opts.RefusalLogEvery <= 0 {
		opts.RefusalLogEvery = time.Minute
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("--jobs-bind-address %s: %w", opts.Addr, err)
	}
	refused := &refusals{every: opts.RefusalLogEvery, now: time.Now, log: opts.Log,
		what: "refused job requests without the job token: the manager's " + TokenFlag + " must hold the same token as this worker's"}
	kinds := &refusals{every: opts.RefusalLogEvery, now: time.Now, log: opts.Log,
		what: "refused jobs of a kind this worker does not know (answered busy: the manager sends them again, maybe to a newer worker); upgrade the workers before the manager"}
	return &Server{opts: opts, ln: ln, refused: refused, kinds: kinds}, nil
}

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves and runs jobs until ctx ends. Up to concurrency handlers run at
// once; a slow job holds one slot and never blocks the others.
//
// When ctx ends, the server stops taking jobs (503), running handlers get
// DrainTimeout to finish before their context (derived from
// context.WithoutCancel(ctx)) is cancelled, and the jobs that were queued
// but never started are given to Release. A handler returning ErrNotRun has
// not run its job either; it is released too.
func (s *Server) Run(ctx context.Context, concurrency int, handle Handler) error {
	if concurrency < 1 {
		return fmt.Errorf("http jobs: concurrency %d, want at least 1", concurrency)
	}
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("http jobs: Run called twice")
	}
	size := s.opts.Queue
	if size <= 0 {
		size = 2 * concurrency
	}
	queue := make(chan job.Message, size)
	s.queue.Store(&queue)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(s.ln) }()

	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	stop := make(chan struct{})
	var running sync.WaitGroup
	for range concurrency {
		running.Add(1)
		go func() {
			defer running.Done()
			s.runJobs(handlerCtx, stop, queue, handle)
		}()
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-served: // the listener failed
		err = fmt.Errorf("http jobs: serving on %s: %w", s.Addr(), err)
	}
	s.stopping.Store(true)
	close(stop)
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	srv.Shutdown(shutdown) //nolint:errcheck // new requests are refused either way
	cancel()
	s.drain(handlerCtx, cancelHandlers, &running)
	s.releaseQueued(ctx, queue)
	return err
}

// runJobs takes jobs off the queue until stop is closed.
func (s *Server) runJobs(ctx context.Context, stop <-chan struct{}, queue chan job.Message, handle Handler) {
	for {
		select {
		case <-stop:
			return
		case m := <-queue:
			if s.stopping.Load() {
				// select picked the job over a closed stop.
				s.release(ctx, m)
				return
			}
			err := s.call(ctx, handle, m)
			switch {
			case errors.Is(err, ErrNotRun):
				s.release(ctx, m)
			case err != nil:
				s.opts.Log.Error(err, "job failed", "job", m.String())
			}
		}
	}
}

// ErrNotRun is what a Handler returns for a job it did not start because
// the worker is stopping: the job is released, not lost.
var ErrNotRun = errors.New("job not run: the worker is stopping")

// call runs handle, turning a panic into an error so that one job cannot
// take the worker down.
func (s *Server) call(ctx context.Context, handle Handler, m job.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return handle(ctx, m)
}

// drain waits for running handlers, for DrainTimeout at most, then cancels
// them and waits for them to return.
func (s *Server) drain(ctx context.Context, cancel context.CancelFunc, running *sync.WaitGroup) {
	done := make(chan struct{})
	go func() {
		running.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(s.opts.DrainTimeout):
		s.opts.Log.Info("drain timeout: cancelling running jobs", "drainTimeout", s.opts.DrainTimeout)
	}
	cancel()
	<-done
}

// releaseQueued hands back every job still queued.
func (s *Server) releaseQueued(ctx context.Context, queue chan job.Message) {
	for {
		select {
		case m := <-queue:
			s.release(ctx, m)
		default:
			return
		}
	}
}

func (s *Server) release(ctx context.Context, m job.Message) {
	if s.opts.Release == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s.opts.Release(ctx, m)
}

// ServeHTTP takes one job: 401 without the token, 202 when it is queued,
// 400 for a message that is not one, 503 (with Retry-After) when the queue
// is full, the worker stops, or the job is of a kind this build does not
// know (job.ErrUnknownKind).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a job message", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, job.MaxSize+1))
	if err == nil {
		var m job.Message
		m, err = job.Decode(body)
		switch {
		case err == nil:
			s.enqueue(w, m)
			return
		case errors.Is(err, job.ErrUnknownKind):
			// A newer manager's job: not poison, as another (newer)
			// worker behind the same Service can run it. Busy makes
			// the manager send it again, to whichever worker the
			// Service picks then.
			s.kinds.add(r.RemoteAddr, fmt.Sprintf("kind %q, job %s/%s", m.Kind, m.Namespace, m.Name))
			busy(w, "this worker does not know jobs of kind "+strconv.Quote(m.Kind)+" (an older worker?)")
			return
		}
	}
	http.Error(w, err.Error(), http.StatusBadRequest)
}

func (s *Server) enqueue(w http.ResponseWriter, m job.Message) {
	q := s.queue.Load()
	if q == nil || s.stopping.Load() {
		busy(w, "the worker is not taking jobs")
		return
	}
	if s.opts.Ready != nil {
		if err := s.opts.Ready(); err != nil {
			busy(w, "the worker is not ready: "+strings.ReplaceAll(err.Error(), "\n", "; "))
			return
		}
	}
	select {
	case *q <- m:
		w.WriteHeader(http.StatusAccepted)
	default:
		busy(w, "the worker's queue is full")
	}
}

func busy(w http.ResponseWriter, why string) {
	w.Header().Set("Retry-After", strconv.Itoa(1))
	http.Error(w, why, http.StatusServiceUnavailable)
}
