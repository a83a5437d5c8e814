package bench

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// requestCounter counts the API requests that ytx's processes make, by
// process role and kind of request, so that the report can say what each
// extraction costs the API server. It sees every request of a rest.Config
// made with config (controller-runtime's clients, its event recorder, the
// uncached reader): they all build their HTTP client from it.
type requestCounter struct {
	mu     sync.Mutex
	counts map[requestKind]int
}

// requestKind is a role ("manager", "workers") and a request such as
// "update youtubeextractions/status"; conflict marks 409 answers.
type requestKind struct {
	role, request string
	conflict      bool
}

func newRequestCounter() *requestCounter {
	return &requestCounter{counts: map[requestKind]int{}}
}

// config copies cfg so that the requests made with it count for role.
func (c *requestCounter) config(cfg *rest.Config, role string) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	inner := cfg.WrapTransport
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if inner != nil {
			rt = inner(rt)
		}
		return countingTransport{next: rt, c: c, role: role}
	}
	return cfg
}

// reset forgets what was counted (the warm-up).
func (c *requestCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = map[requestKind]int{}
}

// snapshot returns the counts so far.
func (c *requestCounter) snapshot() map[requestKind]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[requestKind]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// settled returns the counts once no request has arrived for half a
// second (at most 10 s): events are sent asynchronously and may still be
// on their way when the last extraction is seen Complete.
func (c *requestCounter) settled() map[requestKind]int {
	last, total := c.snapshot(), -1
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		now := c.snapshot()
		if sum(now) == total {
			return now
		}
		last, total = now, sum(now)
	}
	return last
}

func sum(counts map[requestKind]int) int {
	n := 0
	for _, v := range counts {
		n += v
	}
	return n
}

type countingTransport struct {
	next http.RoundTripper
	c    *requestCounter
	role string
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	k := requestKind{role: t.role, request: describeRequest(req)}
	k.conflict = err == nil && resp.StatusCode == http.StatusConflict
	t.c.mu.Lock()
	t.c.counts[k]++
	t.c.mu.Unlock()
	return resp, err
}

// describeRequest names a request by verb and resource:
// "update youtubeextractions/status", "create events", "get
// youtubeextractions", "watch youtubeextractions"; "other" for discovery,
// leases and the rest.
func describeRequest(req *http.Request) string {
	_, rest, ok := strings.Cut(req.URL.Path, "/namespaces/")
	if !ok {
		return "other"
	}
	parts := strings.Split(rest, "/")[1:] // after the namespace's name
	if len(parts) == 0 || parts[0] == "" {
		return "other"
	}
	resource, named := parts[0], len(parts) > 1
	if len(parts) > 2 {
		resource += "/" + parts[2]
	}
	var verb string
	switch q := req.URL.Query(); {
	case req.Method != http.MethodGet:
		verb = map[string]string{http.MethodPost: "create", http.MethodPut: "update"}[req.Method]
		if verb == "" {
			verb = strings.ToLower(req.Method) // patch, delete
		}
	case q.Get("watch") == "true" || q.Get("watch") == "1":
		verb = "watch"
	case named:
		verb = "get"
	default:
		verb = "list"
	}
	return verb + " " + resource
}

// isWrite reports whether a request changes what etcd holds.
func (k requestKind) isWrite() bool {
	verb, _, _ := strings.Cut(k.request, " ")
	return verb == "create" || verb == "update" || verb == "patch" || verb == "delete"
}

func (k requestKind) String() string {
	if k.conflict {
		return k.request + " (409 Conflict)"
	}
	return k.request
}

// perExtraction lists the counts divided by n, writes first, by role.
type requestLine struct {
	kind requestKind
	per  float64
}

func perExtraction(counts map[requestKind]int, n int) []requestLine {
	var out []requestLine
	for k, v := range counts {
		if k.request == "other" || strings.HasPrefix(k.request, "watch ") || strings.HasPrefix(k.request, "list ") {
			continue // a process's own start-up, not per extraction
		}
		out = append(out, requestLine{kind: k, per: float64(v) / float64(n)})
	}
	slices.SortFunc(out, func(a, b requestLine) int { return compareKinds(a.kind, b.kind) })
	return out
}

// compareKinds orders by role, then writes before reads, then by name.
func compareKinds(a, b requestKind) int {
	if c := strings.Compare(a.role, b.role); c != 0 {
		return c
	}
	if a.isWrite() != b.isWrite() {
		if a.isWrite() {
			return -1
		}
		return 1
	}
	return strings.Compare(a.String(), b.String())
}

func sortKinds(ks []requestKind) { slices.SortFunc(ks, compareKinds) }

// writesPer is the number of writes per extraction in counts, the
// benchmark's own creates (one each) included.
func writesPer(counts map[requestKind]int, n int) float64 {
	w := n // the creates
	for k, v := range counts {
		if k.isWrite() {
			w += v
		}
	}
	return float64(w) / float64(n)
}
