package youtube_test

import (
	"net/url"
	"strings"
	"testing"
	"unicode"

	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/linktest"
)

// As for videos, the oracle builds a playlist or channel link from its
// parts, so it knows what the link lists, and asks ListTarget to find it.

// pick makes a string of n to m characters of alphabet out of any bytes.
func pick(raw, alphabet string, n, m int) string {
	size := n + len(raw)%(m-n+1)
	var b strings.Builder
	for i := range size {
		c := byte(i * 13)
		if i < len(raw) {
			c = raw[i]
		}
		b.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return b.String()
}

// listID makes a list ID ytx can read: not a mix, not a signed-in list.
func listID(raw string) string {
	id := pick(raw, idAlphabet, 2, 64)
	if strings.HasPrefix(id, "RD") || id == "WL" || id == "LL" || id == "LM" {
		id = ("PL" + id)[:len(id)]
	}
	return id
}

var listHosts = []string{"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}

// tabs are the channel tabs a link may end with, and what each lists.
var tabs = []struct{ path, tab string }{
	{"", resolver.TabVideos}, {"/videos", resolver.TabVideos}, {"/featured", resolver.TabVideos},
	{"/shorts", resolver.TabShorts}, {"/streams", resolver.TabStreams},
}

// listLink builds a playlist (shape 0: /playlist; 1: /watch with a
// video) or channel (2: /channel/UC…; 3: /@handle; 4: /c/NAME; 5:
// /user/NAME) link from raw parts, and says what it lists.
func listLink(shape uint8, scheme, host, raw string, tabSel uint8, slash bool, params []string, frag string) (string, resolver.Target) {
	var path string
	var want resolver.Target
	var query []string
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		if k == "list" || k == "" {
			k = "x" + k
		}
		query = append(query, url.QueryEscape(k)+"="+url.QueryEscape(v))
	}
	tab := tabs[int(tabSel)%len(tabs)]
	switch shape % 6 {
	case 0, 1:
		want = resolver.Target{Kind: resolver.TargetPlaylist, PlaylistID: listID(raw)}
		path = "/playlist"
		if shape%6 == 1 {
			path = "/watch"
			query = append(query, "v="+idFrom(raw))
		}
		query = append(query[:len(query)/2], append([]string{"list=" + want.PlaylistID}, query[len(query)/2:]...)...)
	case 2:
		want = resolver.Target{Kind: resolver.TargetChannel, ChannelID: "UC" + pick(raw, idAlphabet, 22, 22)}
		path = "/channel/" + want.ChannelID
	case 3:
		want = resolver.Target{Kind: resolver.TargetChannel, Handle: "@" + pick(raw, idAlphabet+".", 3, 30)}
		path = "/" + want.Handle
	default:
		old := "c/"
		if shape%6 == 5 {
			old = "user/"
		}
		want = resolver.Target{Kind: resolver.TargetChannel, Custom: old + pick(raw, idAlphabet, 1, 100)}
		path = "/" + want.Custom
	}
	if want.Kind == resolver.TargetChannel {
		want.Tab = tab.tab
		path += tab.path
		if slash {
			path += "/"
		}
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
	return l, want
}

// FuzzListTargetFindsWhatALinkIsBuiltFor: every link built from valid
// parts lists what it was built for, whatever its other parameters and
// fragment hold, and adding a list that names another playlist makes it
// refused (a second list on a playlist, a list on a channel).
func FuzzListTargetFindsWhatALinkIsBuiltFor(f *testing.F) {
	f.Add(uint8(0), uint8(0), uint8(1), "PLFgquLnL59alCl_2TQvOiD5Vgm", "OLAK5uy_x", uint64(0), uint8(0), false, "si=abc", "list_id=RD", "list=PLx")
	f.Add(uint8(1), uint8(2), uint8(3), "dQw4w9WgXcQ", "PL1", uint64(0xffff), uint8(3), true, "v=BBBBBBBBBBB", "", "")
	f.Add(uint8(3), uint8(3), uint8(0), "rick.astley", "WL", uint64(5), uint8(4), true, "", "next=/playlist?list=PL2", "/@other")
	f.Fuzz(func(t *testing.T, shape, schemeSel, hostSel uint8, raw, rawOther string, caseBits uint64, tabSel uint8, slash bool, p1, p2, frag string) {
		scheme := mixCase(schemes[int(schemeSel)%len(schemes)], caseBits)
		host := mixCase(listHosts[int(hostSel)%len(listHosts)], caseBits>>8)
		params := nonEmpty(p1, p2)
		l, want := listLink(shape, scheme, host, raw, tabSel, slash, params, frag)
		got, err := youtube.ListTarget(l)
		if err != nil || got != want {
			t.Fatalf("ListTarget(%q) = %+v, %v; the link was built for %+v", l, got, err, want)
		}

		other := listID(rawOther)
		if other == want.PlaylistID {
			return
		}
		two := withParam(l, "list="+other)
		if got, err := youtube.ListTarget(two); err == nil {
			t.Fatalf("ListTarget(%q) = %+v; the link names %+v and list %s, want it refused", two, got, want, other)
		}
	})
}

// FuzzListTarget: on any string ListTarget does not panic, and what it
// returns is one playlist or one channel, in the shapes the resolver
// takes.
func FuzzListTarget(f *testing.F) {
	for l := range linktest.ListValid {
		f.Add(l)
	}
	for l := range linktest.ListRefused {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, l string) {
		got, err := youtube.ListTarget(l)
		if err == nil && !wellFormed(got) {
			t.Fatalf("ListTarget(%q) = %+v, not one playlist or channel", l, got)
		}
	})
}

func wellFormed(t resolver.Target) bool {
	named := 0
	for _, s := range []string{t.ChannelID, t.Handle, t.Custom} {
		if s != "" {
			named++
		}
	}
	switch t.Kind {
	case resolver.TargetPlaylist:
		return t.PlaylistID != "" && named == 0 && t.Tab == ""
	case resolver.TargetChannel:
		tabOK := t.Tab == resolver.TabVideos || t.Tab == resolver.TabShorts || t.Tab == resolver.TabStreams
		return t.PlaylistID == "" && named == 1 && tabOK
	}
	return false
}
