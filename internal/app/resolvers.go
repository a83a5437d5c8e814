package app

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/ytdlp"
)

// ResolverConfig is how a worker (and `ytx doctor`) reads YouTube.
type ResolverConfig struct {
	// Resolvers is the chain, in order (resolver.KKDAI, resolver.YTDLP).
	// Empty: kkdai, then yt-dlp when it is installed.
	Resolvers []string
	// KKDAIClient is the InnerTube client kkdai asks as ("" keeps the
	// library's default).
	KKDAIClient string
	// YTDLP runs yt-dlp (Egress and CacheDir are set here).
	YTDLP ytdlp.Options
	// CookiesFile is a Netscape cookies.txt for YouTube; "" for none.
	CookiesFile string
	// Proxies spread the jobs (each job one proxy for all its requests);
	// none: the worker's own route (HTTPS_PROXY or direct).
	Proxies []*url.URL
	// Cooldown is how long a route rests after YouTube asked it to slow
	// down; MinInterval the least time between two jobs' starts on one
	// route.
	Cooldown, MinInterval time.Duration
	// MediaRefusals and MediaSkip: after that many media refusals in a
	// row, media jobs skip a resolver for that long (resolver.ChainOptions).
	MediaRefusals int
	MediaSkip     time.Duration
}

// DefaultCooldown is --youtube-cooldown's default.
const DefaultCooldown = 5 * time.Minute

// Validate checks the names and values, before anything runs.
func (c *ResolverConfig) Validate() error {
	seen := map[string]bool{}
	for _, r := range c.Resolvers {
		switch r {
		case resolver.KKDAI, resolver.YTDLP:
		default:
			return fmt.Errorf("--resolvers: %q is not a resolver; use %s and %s, in the order to try them", r, resolver.KKDAI, resolver.YTDLP)
		}
		if seen[r] {
			return fmt.Errorf("--resolvers: %s is listed twice", r)
		}
		seen[r] = true
	}
	if c.KKDAIClient != "" {
		if _, ok := youtube.KKDAIClients[c.KKDAIClient]; !ok {
			return fmt.Errorf("--kkdai-client %q: must be one of %s", c.KKDAIClient, strings.Join(youtube.KKDAIClientNames(), ", "))
		}
	}
	for _, p := range c.Proxies {
		switch p.Scheme {
		case "http", "https", "socks5", "socks5h":
		default:
			return fmt.Errorf("--proxy %s: the scheme must be http, https or socks5", youtube.ProxyName(p))
		}
		if p.Host == "" {
			return fmt.Errorf("--proxy %s: no host", youtube.ProxyName(p))
		}
	}
	if c.Cooldown < 0 || c.MinInterval < 0 {
		return fmt.Errorf("--youtube-cooldown and --youtube-min-interval must not be negative")
	}
	if c.YTDLP.Timeout < 0 || c.YTDLP.MaxProcs < 0 {
		return fmt.Errorf("--ytdlp-timeout and --ytdlp-max-procs must not be negative")
	}
	return nil
}

// Resolvers are a worker's running resolvers and what they need.
type Resolvers struct {
	Chain   *resolver.Chain
	Clients *youtube.Clients
	Pacer   *youtube.Pacer
	Cookies *youtube.Cookies
	Egress  *youtube.Egress
	// Proxies is the number of proxies jobs are spread over.
	Proxies int
	// ytdlp is the chain's yt-dlp, nil when it has none.
	ytDLP *ytdlp.Resolver
	// Warnings say what does not work (yt-dlp missing, say): logged at
	// start, printed by `ytx doctor`.
	Warnings []string
}

// Close stops the egress proxy.
func (r *Resolvers) Close() error {
	if r.Egress != nil {
		return r.Egress.Close()
	}
	return nil
}

// Describe is the chain with each tool's version, for the start-up log:
// "kkdai v2.10.6 (ANDROID_VR 1.65.10), yt-dlp 2026.11.23".
func (r *Resolvers) Describe() string {
	var parts []string
	for _, x := range r.Chain.Resolvers() {
		v := x.Version()
		if v == "" {
			v = "(not runnable)"
		}
		parts = append(parts, x.Name()+" "+v)
	}
	return strings.Join(parts, ", ")
}

// NewResolvers builds the chain. It fails only on configuration a person
// must fix (an unreadable cookies file, a kkdai client that does not
// exist); a yt-dlp that does not run is a warning, and its jobs fail
// with a message that says what to install.
func NewResolvers(ctx context.Context, c ResolverConfig, http youtube.HTTPOptions) (*Resolvers, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := youtube.UseKKDAIClient(c.KKDAIClient); err != nil {
		return nil, err
	}
	out := &Resolvers{
		Clients: youtube.NewClients(http),
		Pacer:   youtube.NewPacer(c.Proxies, orDuration(c.Cooldown, DefaultCooldown), c.MinInterval),
		Proxies: len(c.Proxies),
	}
	if c.CookiesFile != "" {
		ck, err := youtube.LoadCookies(c.CookiesFile)
		if err != nil {
			return nil, err
		}
		out.Cookies = ck
	}
	names := c.Resolvers
	explicit := len(names) > 0
	if !explicit {
		names = []string{resolver.KKDAI, resolver.YTDLP}
	}
	var chain []resolver.Resolver
	for _, name := range names {
		switch name {
		case resolver.KKDAI:
			chain = append(chain, youtube.KKDAI{})
		case resolver.YTDLP:
			y, err := out.ytdlp(ctx, c.YTDLP, http)
			if err != nil {
				return nil, err
			}
			if !explicit && !y.Found() {
				out.Warnings = append(out.Warnings, "yt-dlp is left out of the resolver chain: "+y.Check().Error())
				continue
			}
			out.ytDLP = y
			chain = append(chain, y)
		}
	}
	out.Chain = resolver.NewChain(resolver.ChainOptions{MediaRefusals: c.MediaRefusals, MediaSkip: c.MediaSkip, Observe: observe}, chain...)
	return out, nil
}

// ytdlp starts the egress proxy and the yt-dlp resolver.
func (r *Resolvers) ytdlp(ctx context.Context, o ytdlp.Options, http youtube.HTTPOptions) (*ytdlp.Resolver, error) {
	eg, err := youtube.StartEgress(http)
	if err != nil {
		return nil, err
	}
	r.Egress = eg
	o.Egress = eg
	return ytdlp.New(ctx, o), nil
}

// Metrics of the resolvers, registered once per process.
var (
	metricsOnce      sync.Once
	resolverRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ytx_resolver_requests_total",
		Help: "Videos each resolver was asked to read, by outcome: ok, or the failure's reason code.",
	}, []string{"resolver", "outcome"})
	resolverFallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ytx_resolver_fallbacks_total",
		Help: "Times the next resolver took over within an attempt, by the one that failed, the one that took over and why.",
	}, []string{"from", "to", "reason"})
	resolverSkips = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ytx_resolver_media_skips_total",
		Help: "Media jobs sent past a resolver because YouTube refused its media again and again lately.",
	}, []string{"resolver"})
	botChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ytx_youtube_bot_checks_total",
		Help: "Answers asking the worker to prove it is not a bot, or HTTP 429, by resolver.",
	}, []string{"resolver"})
)

func registerMetrics() {
	metricsOnce.Do(func() {
		metrics.Registry.MustRegister(resolverRequests, resolverFallbacks, resolverSkips, botChecks)
	})
}

// observe counts one resolver's outcome.
func observe(o resolver.Outcome) {
	registerMetrics()
	switch {
	case o.Skipped:
		resolverSkips.WithLabelValues(o.Resolver).Inc()
		return
	case o.Reason == "" && o.Err == nil:
		resolverRequests.WithLabelValues(o.Resolver, "ok").Inc()
		return
	}
	reason := o.Reason
	if reason == "" {
		reason = "Error"
	}
	resolverRequests.WithLabelValues(o.Resolver, reason).Inc()
	if reason == v1alpha1.ReasonRateLimited {
		botChecks.WithLabelValues(o.Resolver).Inc()
	}
	if o.Next != "" {
		resolverFallbacks.WithLabelValues(o.Resolver, o.Next, reason).Inc()
	}
}

// logResolvers says at start which chain the worker runs, each tool's
// version, and what is wrong with it. yt-dlp's version takes a second or
// two to learn, so the line comes once it is known, without holding the
// start.
func logResolvers(log logr.Logger, r *Resolvers) {
	go func() {
		log.Info("resolver chain", "chain", r.Describe(), "cookies", r.Cookies != nil, "proxies", r.Proxies)
		for _, w := range r.Warnings {
			log.Info("WARNING: " + w)
		}
		if r.ytDLP != nil {
			if err := r.ytDLP.Check(); err != nil {
				log.Info("WARNING: yt-dlp is in the resolver chain but cannot run; its jobs fail: " + err.Error())
			}
		}
	}()
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
