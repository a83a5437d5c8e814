package youtube_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ytx.dev/ytx/internal/youtube"
)

func TestParseCookiesReadsNetscapeFormatAndKeepsYouTubesAndGooglesOnly(t *testing.T) {
	in := "# Netscape HTTP Cookie File\n" +
		"# a comment\n\n" +
		".youtube.com\tTRUE\t/\tTRUE\t1893456000\tSID\tabc\n" +
		"#HttpOnly_.youtube.com\tTRUE\t/\tTRUE\t0\t__Secure-3PSID\tdef\n" +
		"accounts.google.com\tFALSE\t/\tTRUE\t0\tLSID\tghi\n" +
		".example.com\tTRUE\t/\tFALSE\t0\tother\tx\n" +
		"evilyoutube.com\tTRUE\t/\tFALSE\t0\tsteal\ty\r\n"
	cs, err := youtube.ParseCookies(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "SID,__Secure-3PSID,LSID" {
		t.Fatalf("cookies %v, want SID, __Secure-3PSID, LSID", names)
	}
	if !cs[0].Expires.Equal(time.Unix(1893456000, 0)) || !cs[0].Secure || cs[0].HttpOnly || !cs[1].HttpOnly || !cs[1].Expires.IsZero() {
		t.Errorf("fields: %+v %+v", cs[0], cs[1])
	}
}

func TestParseCookiesRefusesOtherFormatsSayingWhy(t *testing.T) {
	for _, in := range []string{"SID=abc; HSID=def\n", ".youtube.com\tTRUE\t/\tTRUE\tsoon\tSID\tabc\n"} {
		if _, err := youtube.ParseCookies(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: %v, want an error naming the line", in, err)
		}
	}
}

func TestLoadCookiesNamesTheFlagAndReadsTheFileAgainWhenItChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cookies.txt")
	if _, err := youtube.LoadCookies(path); err == nil || !strings.Contains(err.Error(), "--cookies-file") {
		t.Errorf("missing file: %v", err)
	}
	os.WriteFile(path, []byte(".example.com\tTRUE\t/\tFALSE\t0\tx\ty\n"), 0o600)
	if _, err := youtube.LoadCookies(path); err == nil || !strings.Contains(err.Error(), "no cookie for youtube.com") {
		t.Errorf("no YouTube cookie: %v", err)
	}
	os.WriteFile(path, []byte(".youtube.com\tTRUE\t/\tTRUE\t0\tSID\tone\n"), 0o600)
	ck, err := youtube.LoadCookies(path)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("https://www.youtube.com/watch")
	value := func() string {
		jar, _ := ck.Jar()
		cs := jar.Cookies(u)
		if len(cs) != 1 {
			return ""
		}
		return cs[0].Value
	}
	if value() != "one" {
		t.Fatalf("jar sends %q", value())
	}
	os.WriteFile(path, []byte(".youtube.com\tTRUE\t/\tTRUE\t0\tSID\ttwo-two\n"), 0o600)
	if v := value(); v != "two-two" {
		t.Errorf("after the Secret changed the jar sends %q, want two-two", v)
	}
	os.WriteFile(path, []byte("garbage\n"), 0o600)
	if v := value(); v != "two-two" {
		t.Errorf("a broken file replaced the last good cookies: %q", v)
	}
}
