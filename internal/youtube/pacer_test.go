package youtube

import (
	"context"
	"net/url"
	"testing"
	"time"
)

// fakeClock drives a Pacer: after returns at once and moves the clock.
type fakeClock struct{ now time.Time }

func pacerAt(c *fakeClock, proxies []*url.URL, cooldown, minInterval time.Duration) *Pacer {
	p := NewPacer(proxies, cooldown, minInterval)
	p.now = func() time.Time { return c.now }
	p.after = func(d time.Duration) <-chan time.Time {
		c.now = c.now.Add(d)
		ch := make(chan time.Time, 1)
		ch <- c.now
		return ch
	}
	return p
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestPacerSpreadsJobsOverProxiesInTurn(t *testing.T) {
	c := &fakeClock{now: time.Unix(0, 0)}
	a, b := mustURL("http://a:3128"), mustURL("socks5://b:1080")
	p := pacerAt(c, []*url.URL{a, b}, time.Minute, 0)
	var got []string
	for range 4 {
		u, err := p.Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, u.Host)
	}
	if want := "a:3128 b:1080 a:3128 b:1080"; join(got) != want {
		t.Errorf("routes %v, want %s", got, want)
	}
}

func TestARestingProxyIsPassedOverWhileAnotherIsFree(t *testing.T) {
	c := &fakeClock{now: time.Unix(0, 0)}
	a, b := mustURL("http://a:3128"), mustURL("http://b:3128")
	p := pacerAt(c, []*url.URL{a, b}, 5*time.Minute, 0)
	if d := p.Rest(a); d != 5*time.Minute {
		t.Errorf("rests %s", d)
	}
	for range 3 {
		if u, _ := p.Start(context.Background()); u.Host != "b:3128" {
			t.Fatalf("route %s, want b while a rests", u.Host)
		}
	}
	if _, resting := p.Resting()["http://a:3128"]; !resting {
		t.Errorf("Resting %v does not list a", p.Resting())
	}
	start := c.now
	p.Rest(b)
	u, _ := p.Start(context.Background())
	if waited := c.now.Sub(start); u.Host != "a:3128" || waited != 5*time.Minute {
		t.Errorf("with both resting: route %s after %s, want a after 5m", u.Host, waited)
	}
}

// Without proxies the worker's own route rests, and its jobs wait.
func TestWithoutProxiesTheWorkerRests(t *testing.T) {
	c := &fakeClock{now: time.Unix(0, 0)}
	p := pacerAt(c, nil, time.Minute, 0)
	p.Rest(nil)
	start := c.now
	u, err := p.Start(context.Background())
	if err != nil || u != nil || c.now.Sub(start) != time.Minute {
		t.Errorf("route %v err %v after %s; want the worker's own after 1m", u, err, c.now.Sub(start))
	}
}

func TestMinIntervalSpacesJobStartsOnARoute(t *testing.T) {
	c := &fakeClock{now: time.Unix(0, 0)}
	p := pacerAt(c, nil, 0, 2*time.Second)
	start := c.now
	for range 3 {
		if _, err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if d := c.now.Sub(start); d != 4*time.Second {
		t.Errorf("3 starts took %s, want 4s", d)
	}
}

func TestAWaitingJobStopsWithItsContext(t *testing.T) {
	p := NewPacer(nil, time.Hour, 0)
	p.Rest(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Start(ctx); err == nil {
		t.Error("Start returned no error for a cancelled job")
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
