package youtube

import (
	"context"
	"net/url"
	"sync"
	"time"
)

// Pacer decides when a job may start asking YouTube, and through which of
// the worker's routes (its proxies, or its own address when it has none).
//
// YouTube answers too many requests from one address, or a client it
// distrusts, with "Sign in to confirm you're not a bot" or HTTP 429. Then
// the route that got it rests (Cooldown) before anyone asks through it
// again: with proxies, jobs go on through the others; without, the
// worker's jobs wait (keeping their heartbeats). MinInterval spaces the
// starts of jobs on one route, for people who archive a lot from one
// address.
type Pacer struct {
	cooldown, minInterval time.Duration
	now                   func() time.Time
	after                 func(time.Duration) <-chan time.Time

	mu     sync.Mutex
	routes []*route
	next   int // round robin
}

type route struct {
	proxy     *url.URL // nil: the worker's own route
	restUntil time.Time
	lastStart time.Time
}

// NewPacer returns a Pacer over proxies (none: the worker's own route).
func NewPacer(proxies []*url.URL, cooldown, minInterval time.Duration) *Pacer {
	p := &Pacer{cooldown: cooldown, minInterval: minInterval, now: time.Now, after: time.After}
	for _, u := range proxies {
		p.routes = append(p.routes, &route{proxy: u})
	}
	if len(p.routes) == 0 {
		p.routes = []*route{{}}
	}
	return p
}

// Start waits until a route may carry a new job, takes it, and returns its
// proxy (nil for the worker's own). Routes take turns; a resting one is
// passed over while another is free, and when all rest the job waits for
// the first to be back. It returns early with ctx's error.
func (p *Pacer) Start(ctx context.Context) (*url.URL, error) {
	for {
		r, wait := p.pick()
		if wait <= 0 {
			return r.proxy, nil
		}
		select {
		case <-p.after(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// pick takes the route that is free soonest, counting from the round
// robin's position, and marks its start if it is free now.
func (p *Pacer) pick() (*route, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	var best *route
	var bestAt time.Time
	bestIdx := 0
	for i := range p.routes {
		idx := (p.next + i) % len(p.routes)
		r := p.routes[idx]
		at := r.restUntil
		if next := r.lastStart.Add(p.minInterval); next.After(at) {
			at = next
		}
		if best == nil || at.Before(bestAt) {
			best, bestAt, bestIdx = r, at, idx
		}
	}
	if wait := bestAt.Sub(now); wait > 0 {
		return best, wait
	}
	best.lastStart = now
	p.next = (bestIdx + 1) % len(p.routes)
	return best, 0
}

// Rest makes the route of proxy (nil: the worker's own) rest for the
// cooldown: YouTube just told it to slow down.
func (p *Pacer) Rest(proxy *url.URL) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.routes {
		if sameProxy(r.proxy, proxy) {
			r.restUntil = p.now().Add(p.cooldown)
		}
	}
	return p.cooldown
}

// Resting lists the routes that rest now, with until when ("" is the
// worker's own route; proxies by host only).
func (p *Pacer) Resting() map[string]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]time.Time{}
	now := p.now()
	for _, r := range p.routes {
		if r.restUntil.After(now) {
			out[ProxyName(r.proxy)] = r.restUntil
		}
	}
	return out
}

// ProxyName is what logs and events show of a proxy: scheme and host,
// never its credentials; "direct" for none.
func ProxyName(u *url.URL) string {
	if u == nil {
		return "direct"
	}
	return u.Scheme + "://" + u.Host
}

func sameProxy(a, b *url.URL) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.String() == b.String()
}
