package youtube_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/linktest"
)

// The oracle of these properties does not parse: it builds a link from its
// parts (a scheme, a host, a shape with the video ID, other parameters that
// may hide other IDs, a fragment), so it knows the video the link names,
// and asks VideoID to find it.

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// idFrom makes a valid video ID out of any bytes.
func idFrom(raw string) string {
	var b strings.Builder
	for i := range 11 {
		c := byte(i * 7)
		if i < len(raw) {
			c = raw[i]
		}
		b.WriteByte(idAlphabet[int(c)%len(idAlphabet)])
	}
	return b.String()
}

var schemes = []string{"https://", "http://", "", "HTTPS://", "Http://"}

// A shape is where a link carries its ID: in the path of one of hosts, or
// in v on /watch.
type shape struct {
	hosts []string
	path  func(id string) string // "" for /watch?v=
}

var shapes = []shape{
	{[]string{"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}, nil},
	{[]string{"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}, func(id string) string { return "/shorts/" + id }},
	{[]string{"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}, func(id string) string { return "/embed/" + id }},
	{[]string{"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}, func(id string) string { return "/live/" + id }},
	{[]string{"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}, func(id string) string { return "/v/" + id }},
	{[]string{"youtu.be"}, func(id string) string { return "/" + id }},
	{[]string{"youtube-nocookie.com", "www.youtube-nocookie.com"}, func(id string) string { return "/embed/" + id }},
}

// mixCase upper-cases the letters of s that bits selects.
func mixCase(s string, bits uint64) string {
	r := []byte(s)
	for i := range r {
		if bits>>(i%64)&1 == 1 && r[i] >= 'a' && r[i] <= 'z' {
			r[i] -= 'a' - 'A'
		}
	}
	return string(r)
}

// link builds a link to id from parts: extra parameters (any keys but v,
// any values, escaped as a browser would) go before and after the ID's v,
// and frag (with spaces and control characters removed, which no link
// carries) after a '#'.
func link(scheme string, s shape, host, id string, slash bool, params []string, frag string) string {
	var query []string
	for i, p := range params {
		k, v, _ := strings.Cut(p, "=")
		if k == "v" || k == "" {
			k = "x" + k
		}
		query = append(query, url.QueryEscape(k)+"="+url.QueryEscape(v))
		if i == 0 && s.path == nil {
			query = append(query, "v="+id)
		}
	}
	path := "/watch"
	if s.path != nil {
		path = s.path(id)
		if slash {
			path += "/"
		}
	} else if len(params) == 0 {
		query = append(query, "v="+id)
	}
	l := scheme + host + path
	if len(query) > 0 {
		l += "?" + strings.Join(query, "&")
	}
	frag = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, frag)
	if frag != "" {
		l += "#" + frag
	}
	return l
}

// FuzzVideoIDFindsTheVideoALinkIsBuiltFor: every link built from valid
// parts names its video, whatever other IDs its other parameters or its
// fragment hold, and adding a v that names another video makes it refused.
func FuzzVideoIDFindsTheVideoALinkIsBuiltFor(f *testing.F) {
	f.Add(uint8(0), uint8(0), uint8(0), "dQw4w9WgXcQ", "BBBBBBBBBBB", uint64(0), false, "next=/embed/BBBBBBBBBBB", "t=42", "v=CCCCCCCCCCC")
	f.Add(uint8(2), uint8(5), uint8(0), "aqz-KE-bpKQ", "xxxxxxxxxxx", uint64(0xffff), true, "list=PL1", "si=/watch?v=BBBBBBBBBBB", "youtu.be/BBBBBBBBBBB")
	f.Add(uint8(3), uint8(6), uint8(1), "M7lc1UVf-VE", "M7lc1UVf-VE", uint64(5), false, "v=x", "", "")
	f.Fuzz(func(t *testing.T, schemeSel, shapeSel, hostSel uint8, rawID, rawOther string, caseBits uint64, slash bool, p1, p2, frag string) {
		s := shapes[int(shapeSel)%len(shapes)]
		scheme := mixCase(schemes[int(schemeSel)%len(schemes)], caseBits)
		host := mixCase(s.hosts[int(hostSel)%len(s.hosts)], caseBits>>8)
		id := idFrom(rawID)
		params := nonEmpty(p1, p2)
		l := link(scheme, s, host, id, slash, params, frag)
		got, err := youtube.VideoID(l)
		if err != nil || got != id {
			t.Fatalf("VideoID(%q) = %q, %v; the link was built for %s", l, got, err, id)
		}

		other := idFrom(rawOther)
		if other == id {
			return
		}
		two := withParam(l, "v="+other)
		if got, err := youtube.VideoID(two); err == nil {
			t.Fatalf("VideoID(%q) = %q; the link names %s and %s, want it refused", two, got, id, other)
		}
	})
}

// FuzzVideoID: on any string VideoID does not panic, and what it returns
// is an ID.
func FuzzVideoID(f *testing.F) {
	for l := range linktest.Valid {
		f.Add(l)
	}
	for _, l := range append(append([]string{}, linktest.Invalid...), linktest.Hostile...) {
		f.Add(l)
	}
	isID := regexp.MustCompile(`^[A-Za-z0-9_-]{11}$`)
	f.Fuzz(func(t *testing.T, l string) {
		got, err := youtube.VideoID(l)
		if err == nil && !isID.MatchString(got) {
			t.Fatalf("VideoID(%q) = %q, not a video ID", l, got)
		}
	})
}

// nonEmpty is the non-empty ones of ps, in order: a fuzzer's optional
// query parameters.
func nonEmpty(ps ...string) []string {
	var out []string
	for _, p := range ps {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// withParam adds param ("key=value") to link's query, before its fragment.
func withParam(link, param string) string {
	base, fragment, hasFrag := strings.Cut(link, "#")
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	out := base + sep + param
	if hasFrag {
		out += "#" + fragment
	}
	return out
}
