package playlist

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestChildNameIsDeterministicAndDistinguishesCase(t *testing.T) {
	a, b := ChildName("songs", "dQw4w9WgXcQ"), ChildName("songs", "dqw4w9wgxcq")
	if a != ChildName("songs", "dQw4w9WgXcQ") {
		t.Fatal("the same playlist and video gave two names")
	}
	if a == b {
		t.Fatalf("IDs that differ only in case share the name %s", a)
	}
	if !strings.HasPrefix(a, "songs-") {
		t.Errorf("child name %s does not start with its playlist's name", a)
	}
}

func TestChildNameIsAValidNameAndLabelValue(t *testing.T) {
	long := strings.Repeat("a", 240) + "-b.c"
	for _, pl := range []string{"p", "songs", strings.Repeat("x", 46), strings.Repeat("x", 47), long, strings.Repeat("a.", 100) + "z"} {
		for _, id := range []string{"-abcdefghij", "abcdefghij_", "dQw4w9WgXcQ"} {
			n := ChildName(pl, id)
			if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
				t.Errorf("ChildName(%q, %q) = %q: not a name: %v", pl, id, n, errs)
			}
			if errs := validation.IsValidLabelValue(n); len(errs) > 0 {
				t.Errorf("ChildName(%q, %q) = %q: not a label value: %v", pl, id, n, errs)
			}
		}
	}
}

func TestChildNamesOfLongPlaylistsThatShareABeginningDiffer(t *testing.T) {
	base := strings.Repeat("channel", 20)
	if ChildName(base+"-one", "dQw4w9WgXcQ") == ChildName(base+"-two", "dQw4w9WgXcQ") {
		t.Fatal("two long playlist names with one beginning give one child name")
	}
}

func TestLabelValuesAreValidForEveryVideoID(t *testing.T) {
	for _, id := range []string{"-abcdefghij", "abcdefghij_", "__________-"} {
		if errs := validation.IsValidLabelValue(VideoHash(id)); len(errs) > 0 {
			t.Errorf("VideoHash(%q): %v", id, errs)
		}
	}
	if PlaylistLabel("songs") != "songs" {
		t.Error("a short playlist name is not its own label value")
	}
	long := strings.Repeat("a", 100)
	if v := PlaylistLabel(long); len(validation.IsValidLabelValue(v)) > 0 || v == long {
		t.Errorf("PlaylistLabel of a 100-character name = %q", v)
	}
}

// TestVideoHashIsWhatTheREADMESays: the README tells users to compute the
// label with sha256sum; the value must be that.
func TestVideoHashIsWhatTheREADMESays(t *testing.T) {
	// printf %s dQw4w9WgXcQ | sha256sum | cut -c1-16
	if got, want := VideoHash("dQw4w9WgXcQ"), "5f6b0b4e201f2a7e"; got != want {
		t.Errorf("VideoHash = %s, want %s", got, want)
	}
}
