package youtube

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Cookies is a Netscape cookies.txt file (the format browsers' export
// extensions and yt-dlp write), read again when it changes: a mounted
// Secret is updated in place. Its values are never logged.
//
// The format is seven tab-separated fields per line: domain, whether
// subdomains match, path, secure, expiry (Unix seconds, 0 for a session
// cookie), name, value; "#HttpOnly_" before the domain marks an HttpOnly
// cookie and other lines starting with "#" are comments. Go has no
// maintained library for it, and it is this small.
type Cookies struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	cookies []*http.Cookie
}

// LoadCookies reads path, and fails with a message that names the flag
// when it cannot be read or holds no cookie for YouTube.
func LoadCookies(path string) (*Cookies, error) {
	c := &Cookies{path: path}
	if _, err := c.current(); err != nil {
		return nil, err
	}
	return c, nil
}

// Path is the file's path, for a resolver that reads the file itself.
func (c *Cookies) Path() string { return c.path }

// Count is the number of cookies for YouTube in the file now.
func (c *Cookies) Count() int {
	cs, _ := c.current()
	return len(cs)
}

// current returns the file's cookies, reading it again when its size or
// modification time changed. A file that became unreadable keeps the last
// good cookies (and the error says so).
func (c *Cookies) current() ([]*http.Cookie, error) {
	fi, err := os.Stat(c.path)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		return c.cookies, fmt.Errorf("--cookies-file %s: %w", c.path, err)
	}
	if fi.ModTime().Equal(c.modTime) && fi.Size() == c.size && c.cookies != nil {
		return c.cookies, nil
	}
	f, err := os.Open(c.path)
	if err != nil {
		return c.cookies, fmt.Errorf("--cookies-file %s: %w", c.path, err)
	}
	defer f.Close()
	cs, err := ParseCookies(f)
	if err != nil {
		return c.cookies, fmt.Errorf("--cookies-file %s: %w", c.path, err)
	}
	if len(cs) == 0 {
		return c.cookies, fmt.Errorf("--cookies-file %s holds no cookie for youtube.com: export the cookies of a signed-in YouTube session in Netscape format", c.path)
	}
	c.cookies, c.modTime, c.size = cs, fi.ModTime(), fi.Size()
	return cs, nil
}

// Jar returns a new cookie jar holding the file's cookies, for one job:
// what YouTube sets during the job stays in that job.
func (c *Cookies) Jar() (http.CookieJar, error) {
	cs, err := c.current()
	jar, _ := cookiejar.New(nil)
	for _, k := range cs {
		host := strings.TrimPrefix(k.Domain, ".")
		jar.SetCookies(&url.URL{Scheme: "https", Host: host, Path: "/"}, []*http.Cookie{k})
	}
	return jar, err
}

// ParseCookies reads a Netscape cookies.txt and keeps the cookies of
// YouTube's and Google's domains (the ones a YouTube session needs); the
// others are not sent anywhere.
func ParseCookies(r io.Reader) ([]*http.Cookie, error) {
	var out []*http.Cookie
	sc := bufio.NewScanner(io.LimitReader(r, 4<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		httpOnly := false
		if rest, ok := strings.CutPrefix(line, "#HttpOnly_"); ok {
			line, httpOnly = rest, true
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			return nil, fmt.Errorf("line %d has %d tab-separated fields, want 7 (is it a Netscape cookies.txt?)", n, len(f))
		}
		expires, err := strconv.ParseInt(f[4], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: expiry %q is not a number", n, f[4])
		}
		domain := strings.ToLower(f[0])
		if !cookieDomain(domain) {
			continue
		}
		k := &http.Cookie{Domain: domain, Path: f[2], Secure: strings.EqualFold(f[3], "TRUE"), Name: f[5], Value: f[6], HttpOnly: httpOnly}
		if expires > 0 {
			k.Expires = time.Unix(expires, 0)
		}
		out = append(out, k)
	}
	return out, sc.Err()
}

// cookieDomain: youtube.com and google.com and their subdomains.
func cookieDomain(d string) bool {
	d = strings.TrimPrefix(d, ".")
	for _, base := range []string{"youtube.com", "google.com"} {
		if d == base || strings.HasSuffix(d, "."+base) {
			return true
		}
	}
	return false
}
