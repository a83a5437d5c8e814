package youtube

import (
	"strings"
	"testing"
)

// validLinks are the shapes users paste, each with the ID it names. The same
// table drives the admission test against a real API server (test/e2e).
var validLinks = map[string]string{
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ":                                 "dQw4w9WgXcQ",
	"https://youtube.com/watch?v=dQw4w9WgXcQ":                                     "dQw4w9WgXcQ",
	"http://www.youtube.com/watch?v=dQw4w9WgXcQ":                                  "dQw4w9WgXcQ",
	"www.youtube.com/watch?v=dQw4w9WgXcQ":                                         "dQw4w9WgXcQ",
	"https://m.youtube.com/watch?v=dQw4w9WgXcQ&feature=share":                     "dQw4w9WgXcQ",
	"https://music.youtube.com/watch?v=dQw4w9WgXcQ&si=abc":                        "dQw4w9WgXcQ",
	"https://www.youtube.com/watch?feature=share&v=dQw4w9WgXcQ":                   "dQw4w9WgXcQ",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PLFgquLnL59alCl_2TQvOiD5Vgm": "dQw4w9WgXcQ",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ#t=42":                            "dQw4w9WgXcQ",
	"https://youtu.be/dQw4w9WgXcQ":                                                "dQw4w9WgXcQ",
	"https://youtu.be/dQw4w9WgXcQ?t=42":                                           "dQw4w9WgXcQ",
	"https://www.youtube.com/shorts/aqz-KE-bpKQ":                                  "aqz-KE-bpKQ",
	"https://youtube.com/shorts/aqz-KE-bpKQ?feature=share":                        "aqz-KE-bpKQ",
	"https://www.youtube.com/embed/M7lc1UVf-VE":                                   "M7lc1UVf-VE",
	"https://www.youtube-nocookie.com/embed/M7lc1UVf-VE?rel=0":                    "M7lc1UVf-VE",
	"https://www.youtube.com/live/jfKfPfyJRdk":                                    "jfKfPfyJRdk",
	"https://www.youtube.com/live/jfKfPfyJRdk?si=xyz":                             "jfKfPfyJRdk",
	"https://www.youtube.com/v/dQw4w9WgXcQ":                                       "dQw4w9WgXcQ",
	"HTTPS://WWW.YOUTUBE.COM/watch?v=dQw4w9WgXcQ":                                 "dQw4w9WgXcQ",
	"https://YouTu.be/Ab_cD-3fGh1":                                                "Ab_cD-3fGh1",
}

// invalidLinks are refused by VideoID and, with the same pattern, by admission.
var invalidLinks = []string{
	"",
	"dQw4w9WgXcQ", // a bare ID is not a link
	"https://vimeo.com/123456789",
	"https://www.youtube.com/playlist?list=PLFgquLnL59alCl_2TQvOiD5Vgm",
	"https://www.youtube.com/@RickAstleyYT",
	"https://www.youtube.com/channel/UCuAXFkgsw1L7xaCfnd5JJOw",
	"https://www.youtube.com/watch?v=dQw4w9WgXc",   // 10 characters
	"https://www.youtube.com/watch?v=dQw4w9WgXcQQ", // 12 characters
	"https://www.youtube.com/watch?v=dQw4w9WgX!Q",
	"https://www.youtube.com/watch?list=PLFgquLnL59alCl_2TQvOiD5Vgm",
	"https://www.youtube.com/watch?xv=dQw4w9WgXcQ",
	"https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ",
	"https://evil.example/youtube.com/watch?v=dQw4w9WgXcQ",
	"https://notyoutube.com/watch?v=dQw4w9WgXcQ",
	"ftp://www.youtube.com/watch?v=dQw4w9WgXcQ",
	" https://www.youtube.com/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ\n",
	"https://youtu.be/",
	"https://gaming.youtube.com/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com/results?search_query=rick",
	"https://www.youtube.com/shorts/",
	"javascript:alert(1)//youtu.be/dQw4w9WgXcQ",
}

func TestVideoIDAcceptsVideoLinks(t *testing.T) {
	for link, want := range validLinks {
		got, err := VideoID(link)
		if err != nil {
			t.Errorf("VideoID(%q): %v", link, err)
			continue
		}
		if got != want {
			t.Errorf("VideoID(%q) = %q, want %q", link, got, want)
		}
	}
}

func TestVideoIDRefusesOtherLinks(t *testing.T) {
	for _, link := range invalidLinks {
		id, err := VideoID(link)
		if err == nil {
			t.Errorf("VideoID(%q) = %q, want an error", link, id)
			continue
		}
		if !strings.Contains(err.Error(), "youtu.be/VIDEO_ID") {
			t.Errorf("VideoID(%q) error %q does not say what a valid link looks like", link, err)
		}
	}
}

func TestVideoIDErrorTruncatesHugeInput(t *testing.T) {
	_, err := VideoID("https://example.com/" + strings.Repeat("a", 4096))
	if err == nil || len(err.Error()) > 400 {
		t.Fatalf("error for a 4 KB link should be short, got %d bytes", len(err.Error()))
	}
}
