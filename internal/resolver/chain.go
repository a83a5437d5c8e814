package resolver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
)

// ErrUnavailable marks a resolver that could not run at all (yt-dlp not
// installed, or broken): its failure says nothing about the video, so the
// chain reports the failure of the resolver before it, with a note.
var ErrUnavailable = errors.New("resolver unavailable")

// Chain tries resolvers in order within one attempt.
type Chain struct {
	resolvers []Resolver
	opts      ChainOptions

	mu      sync.Mutex
	refused map[string]int       // consecutive media refusals, by resolver
	skipped map[string]time.Time // resolver → until when media jobs skip it
}

// ChainOptions tune a Chain; zero values take the defaults.
type ChainOptions struct {
	// MediaRefusals is how many media refusals in a row make the chain
	// send media jobs past a resolver for MediaSkip (default 3, 10 min).
	// Each refusal costs a job a request that fails; after them the
	// worker stops paying it, and tries once again when MediaSkip ends.
	MediaRefusals int
	MediaSkip     time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Observe, when set, is told of every resolver's outcome, for metrics.
	Observe func(Outcome)
}

// Outcome is one resolver's turn in a Run.
type Outcome struct {
	Resolver string
	// Reason is "" on success, else the failure's reason code.
	Reason string
	// Next is the resolver the chain falls back to, "" when none.
	Next string
	// Skipped: the resolver was passed over (its media was refused too
	// often lately) and not asked at all.
	Skipped bool
	Err     error
}

// NewChain returns a chain of resolvers, in the order given.
func NewChain(opts ChainOptions, resolvers ...Resolver) *Chain {
	if opts.MediaRefusals <= 0 {
		opts.MediaRefusals = 3
	}
	if opts.MediaSkip <= 0 {
		opts.MediaSkip = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Chain{resolvers: resolvers, opts: opts, refused: map[string]int{}, skipped: map[string]time.Time{}}
}

// Resolvers are the chain's resolvers, in order.
func (c *Chain) Resolvers() []Resolver { return c.resolvers }

// Use is what a job does with a video once resolved: plan, download, store.
// A *failure.Error with reason Forbidden from it is a media refusal. last
// says no resolver follows r in this run.
type Use func(ctx context.Context, r Resolver, v *Video, last bool) error

// Run resolves req with each resolver in turn and hands the video to use,
// until one succeeds or fails in a way the next one would not mend (see
// Fallback). needsMedia says the job downloads streams, so that a
// resolver whose media YouTube keeps refusing is skipped for a while.
// onFallback, when set, is called before each fallback.
func (c *Chain) Run(ctx context.Context, req Request, needsMedia bool, use Use, onFallback func(Outcome)) (Resolver, error) {
	order := c.order(needsMedia)
	var trail []string
	var last error
	for i, r := range order {
		v, err := r.Resolve(ctx, req)
		resolved := err == nil
		if resolved {
			err = use(ctx, r, v, i+1 == len(order))
		}
		o := Outcome{Resolver: r.Name(), Err: err}
		if err == nil {
			if needsMedia {
				c.mediaWorked(r.Name())
			}
			c.observe(o)
			return r, nil
		}
		f, _ := failure.As(err)
		if f != nil {
			o.Reason = f.Reason
		}
		if resolved && f != nil && f.Reason == v1alpha1.ReasonForbidden && needsMedia {
			c.mediaRefused(r.Name())
		}
		more := i+1 < len(order) && Fallback(err) && ctx.Err() == nil
		if more {
			o.Next = order[i+1].Name()
		}
		c.observe(o)
		if !more {
			return r, c.final(err, last, trail)
		}
		if onFallback != nil {
			onFallback(o)
		}
		trail = append(trail, fmt.Sprintf("%s failed (%s)", r.Name(), orText(o.Reason, "error")))
		last = err
	}
	return nil, failure.Permanent(v1alpha1.ReasonForbidden, nil, "no resolver is configured (--resolvers)")
}

// final is the error a Run ends with: the last resolver's, with the
// others' outcomes before it; but a resolver that could not run says
// nothing about the video, so then the one before it speaks, with a note
// of what to install or configure.
func (c *Chain) final(err, prev error, trail []string) error {
	f, ok := failure.As(err)
	if !ok {
		return err
	}
	if errors.Is(err, ErrUnavailable) && prev != nil {
		if p, ok := failure.As(prev); ok {
			out := *p
			out.Message = p.Message + "; and " + f.Message
			return &out
		}
	}
	if len(trail) == 0 {
		return err
	}
	out := *f
	out.Message = strings.Join(trail, ", ") + "; then " + f.Message
	return &out
}

// Fallback reports whether a failure of one resolver may not happen with
// the next: YouTube refused the client (Forbidden), asked it to prove it is
// not a bot or rate-limited it (RateLimited), wants a sign-in in words ytx
// does not know (a retryable LoginRequired), left out a format, or failed
// on the network or timed out. YouTube's own answer
// about the video (private, removed), bad input, caps, storage, the scratch
// disk and ffmpeg are the same whoever resolves.
func Fallback(err error) bool {
	f, ok := failure.As(err)
	if !ok || f.Definitive {
		return false
	}
	switch f.Reason {
	case v1alpha1.ReasonForbidden, v1alpha1.ReasonRateLimited, v1alpha1.ReasonFormatUnavailable, v1alpha1.ReasonTimeout:
		return true
	case v1alpha1.ReasonDownloadFailed, v1alpha1.ReasonLoginRequired:
		// A sign-in demand in words ytx does not know may be a client's
		// (it is retryable); an age restriction is the video's.
		return f.Retryable
	}
	return false
}

// order is the chain for one job: every resolver, except that a media job
// skips one whose media was refused too often lately, unless it is the
// last. A skip that has run out lets one job try it again.
func (c *Chain) order(needsMedia bool) []Resolver {
	if !needsMedia {
		return c.resolvers
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	var out []Resolver
	for i, r := range c.resolvers {
		until, skip := c.skipped[r.Name()]
		switch {
		case skip && now.Before(until) && i+1 < len(c.resolvers):
			c.observeLocked(Outcome{Resolver: r.Name(), Skipped: true})
			continue
		case skip && !now.Before(until):
			// Half open: this job tries it; one more refusal skips it
			// again.
			delete(c.skipped, r.Name())
			c.refused[r.Name()] = c.opts.MediaRefusals - 1
		}
		out = append(out, r)
	}
	return out
}

func (c *Chain) mediaRefused(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refused[name]++
	if c.refused[name] >= c.opts.MediaRefusals {
		c.skipped[name] = c.opts.Now().Add(c.opts.MediaSkip)
		c.refused[name] = 0
	}
}

func (c *Chain) mediaWorked(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refused[name] = 0
	delete(c.skipped, name)
}

// Skipped lists the resolvers that media jobs pass over now, with until
// when.
func (c *Chain) Skipped() map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]time.Time{}
	now := c.opts.Now()
	for name, until := range c.skipped {
		if now.Before(until) {
			out[name] = until
		}
	}
	return out
}

func (c *Chain) observe(o Outcome) {
	if c.opts.Observe != nil {
		c.opts.Observe(o)
	}
}

// observeLocked is observe for callers holding c.mu; Observe must not
// call back into the chain.
func (c *Chain) observeLocked(o Outcome) { c.observe(o) }

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
