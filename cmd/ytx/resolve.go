package main

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/ytdlp"
)

// resolveFlags are the flags of how a worker reads YouTube, shared by `ytx
// worker` and `ytx doctor` so that the doctor checks exactly what the
// worker runs.
type resolveFlags struct {
	c         *app.ResolverConfig
	proxies   []string
	proxyFile string
}

func addResolveFlags(fs *pflag.FlagSet, c *app.ResolverConfig) *resolveFlags {
	f := &resolveFlags{c: c}
	fs.StringSliceVar(&c.Resolvers, "resolvers", nil, fmt.Sprintf("resolvers to read videos with, in the order to try them within an attempt: %s (in process) and %s (a subprocess) (default: %s,%s when yt-dlp is installed, else %s)", resolver.KKDAI, resolver.YTDLP, resolver.KKDAI, resolver.YTDLP, resolver.KKDAI))
	fs.StringVar(&c.KKDAIClient, "kkdai-client", "", "the InnerTube client kkdai asks as: "+strings.Join(youtube.KKDAIClientNames(), ", ")+" (default: the library's, android_vr)")
	fs.StringVar(&c.YTDLP.Path, "ytdlp", "yt-dlp", "the yt-dlp program ("+ytdlp.MinVersion+" or newer)")
	fs.DurationVar(&c.YTDLP.Timeout, "ytdlp-timeout", 2*time.Minute, "longest a yt-dlp run may take to read one video")
	fs.IntVar(&c.YTDLP.MaxProcs, "ytdlp-max-procs", 4, "yt-dlp runs at once per worker; more jobs wait their turn")
	fs.StringArrayVar(&c.YTDLP.ExtractorArgs, "ytdlp-extractor-args", nil, "passed to yt-dlp as --extractor-args, e.g. youtube:player_client=web;po_token=web.gvs+TOKEN (repeat for more)")
	fs.StringVar(&c.YTDLP.CacheDir, "ytdlp-cache-dir", "", "yt-dlp's cache of YouTube's player scripts, shared by the worker's runs (default: none, --no-cache-dir)")
	fs.StringArrayVar(&c.YTDLP.Args, "ytdlp-args", nil, "more arguments for yt-dlp (repeat for each), e.g. --js-runtimes=node; ytx passes --ignore-config and --no-plugin-dirs otherwise")
	fs.StringVar(&c.CookiesFile, "cookies-file", "", "Netscape cookies.txt of a YouTube session, sent by both resolvers (yt-dlp gets a private copy per job); never logged or stored")
	fs.StringSliceVar(&f.proxies, "proxy", nil, "proxies to spread jobs over (http://, https:// or socks5:// URLs, comma-separated); each job uses one for all its requests. Put credentials in YTX_PROXY or --proxy-file, never on the command line")
	fs.StringVar(&f.proxyFile, "proxy-file", "", "file with one proxy URL per line (a mounted Secret), added to --proxy")
	fs.DurationVar(&c.Cooldown, "youtube-cooldown", app.DefaultCooldown, "after YouTube asks for a pause (a bot check, HTTP 429), how long the route that got it rests: the proxy, or with none the worker")
	fs.DurationVar(&c.MinInterval, "youtube-min-interval", 0, "least time between two jobs' first requests to YouTube on one route (proxy, or the worker's own address)")
	return f
}

// finish reads the proxies, after the environment was applied: --proxy
// given on the command line must hold no credentials, which anyone who
// can list processes would see.
func (f *resolveFlags) finish(fs *pflag.FlagSet) error {
	onCommandLine := fs.Changed("proxy") && os.Getenv("YTX_PROXY") == ""
	var raw []string
	for _, p := range f.proxies {
		u, err := parseProxy(p)
		if err != nil {
			return fmt.Errorf("--proxy: %w", err)
		}
		if onCommandLine && u.User != nil {
			return fmt.Errorf("--proxy %s: credentials on the command line are visible to anyone who can list processes; set YTX_PROXY or use --proxy-file", youtube.ProxyName(u))
		}
		raw = append(raw, p)
	}
	if f.proxyFile != "" {
		lines, err := readLines(f.proxyFile)
		if err != nil {
			return fmt.Errorf("--proxy-file: %w", err)
		}
		raw = append(raw, lines...)
	}
	f.c.Proxies = nil
	for _, p := range raw {
		u, err := parseProxy(p)
		if err != nil {
			return fmt.Errorf("--proxy: %w", err)
		}
		f.c.Proxies = append(f.c.Proxies, u)
	}
	return f.c.Validate()
}

// parseProxy reads a proxy URL; a bare host:port is an http:// proxy, as
// net/http reads HTTPS_PROXY.
func parseProxy(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		// The error would print the URL, credentials and all.
		return nil, fmt.Errorf("a proxy is not a URL such as http://host:3128 or socks5://host:1080")
	}
	return u, nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}
