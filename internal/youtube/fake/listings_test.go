package fake_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"ytx.dev/ytx/internal/youtube/fake"
)

func startListings(t *testing.T) (*fake.Server, *http.Client) {
	t.Helper()
	srv, c := start(t)
	if err := srv.AddDefaultListings(); err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// browse POSTs the browse API as client (ANDROID_VR as kkdai, WEB as
// yt-dlp) and decodes the answer.
func browse(t *testing.T, c *http.Client, client, field, value string) map[string]any {
	t.Helper()
	body := fmt.Sprintf(`{"context":{"client":{"clientName":%q,"clientVersion":"1"}},%q:%q}`, client, field, value)
	resp, err := c.Post("https://www.youtube.com/youtubei/v1/browse?key=k", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("browse %s=%s: %s", field, value, resp.Status)
	}
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// walk calls f on every object under v, depth first, in order.
func walk(v any, f func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(x)
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			walk(x[k], f)
		}
	case []any:
		for _, e := range x {
			walk(e, f)
		}
	}
}

// entries are the renderers named key in v, in order, and the page's
// continuation token ("" for none).
func entries(v any, key string) (out []map[string]any, token string) {
	walk(v, func(m map[string]any) {
		if r, ok := m[key].(map[string]any); ok {
			out = append(out, r)
		}
		if c, ok := m["continuationCommand"].(map[string]any); ok {
			token, _ = c["token"].(string)
		}
	})
	return out, token
}

func ids(rs []map[string]any) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r["videoId"].(string))
	}
	return out
}

func TestBigPlaylistComesInPagesOf100WithContinuations(t *testing.T) {
	for _, client := range []string{"ANDROID_VR", "WEB"} {
		t.Run(client, func(t *testing.T) {
			srv, c := startListings(t)
			page := browse(t, c, client, "browseId", "VL"+fake.BigPlaylistID)
			var got []string
			var sizes []int
			for {
				rs, token := entries(page, "playlistVideoRenderer")
				got, sizes = append(got, ids(rs)...), append(sizes, len(rs))
				if token == "" {
					break
				}
				page = browse(t, c, client, "continuation", token)
			}
			if !slices.Equal(sizes, []int{100, 100, 50}) {
				t.Errorf("page sizes %v, want 100, 100, 50", sizes)
			}
			want := fake.IDs(fake.ManyVideos("big", fake.BigPlaylistSize))
			if !slices.Equal(got, want) {
				t.Errorf("entries out of order or missing: got %d, first %v", len(got), got[:min(3, len(got))])
			}
			if b, n := srv.Requests(fake.KindBrowse), srv.Requests(fake.KindContinuation); b != 1 || n != 2 {
				t.Errorf("counted %d browse and %d continuation requests, want 1 and 2", b, n)
			}
		})
	}
}

// kkdai reads the app shape: contents.<one key>.tabs[0]…sectionListRenderer
// .contents[0].playlistVideoListRenderer and the title from the header,
// and nothing under "metadata" (it would look there first).
func TestAppClientsGetTheAppShape(t *testing.T) {
	_, c := startListings(t)
	page := browse(t, c, "ANDROID_VR", "browseId", "VL"+fake.MixedPlaylistID)
	if _, ok := page["metadata"]; ok {
		t.Error("an app answer carries metadata; kkdai would look for the title there and find none")
	}
	sl := page["contents"].(map[string]any)["singleColumnBrowseResultsRenderer"].(map[string]any)["tabs"].([]any)[0].(map[string]any)["tabRenderer"].(map[string]any)["content"].(map[string]any)["sectionListRenderer"].(map[string]any)
	if _, ok := sl["contents"].([]any)[0].(map[string]any)["playlistVideoListRenderer"]; !ok {
		t.Errorf("first section is not the list: %v", sl["contents"])
	}
	title := page["header"].(map[string]any)["playlistHeaderRenderer"].(map[string]any)["title"]
	if b, _ := json.Marshal(title); !strings.Contains(string(b), "A mixed playlist") {
		t.Errorf("header title %s", b)
	}
}

func TestPrivateAndMissingPlaylistsAnswerAnErrorAlert(t *testing.T) {
	_, c := startListings(t)
	for id, want := range map[string]string{
		fake.PrivatePlaylistID: "This playlist is private.",
		fake.MissingPlaylistID: "The playlist does not exist.",
	} {
		page := browse(t, c, "WEB", "browseId", "VL"+id)
		b, _ := json.Marshal(page["alerts"])
		if !strings.Contains(string(b), `"type":"ERROR"`) || !strings.Contains(string(b), want) {
			t.Errorf("%s: alerts %s, want an ERROR saying %q", id, b, want)
		}
		if rs, _ := entries(page, "playlistVideoRenderer"); len(rs) != 0 {
			t.Errorf("%s: %d entries shown", id, len(rs))
		}
	}
}

func TestEmptyPlaylistHasNoList(t *testing.T) {
	_, c := startListings(t)
	page := browse(t, c, "WEB", "browseId", "VL"+fake.EmptyPlaylistID)
	if rs, token := entries(page, "playlistVideoRenderer"); len(rs) != 0 || token != "" {
		t.Errorf("%d entries, token %q", len(rs), token)
	}
	if _, ok := page["alerts"]; ok {
		t.Error("an empty playlist is not an error")
	}
}

func TestUnavailableAndLiveEntriesAreMarkedAsYouTubeMarksThem(t *testing.T) {
	_, c := startListings(t)
	rs, _ := entries(browse(t, c, "WEB", "browseId", "VL"+fake.MixedPlaylistID), "playlistVideoRenderer")
	by := map[string]map[string]any{}
	for _, r := range rs {
		by[r["videoId"].(string)] = r
	}
	text := func(id string) string { b, _ := json.Marshal(by[id]); return string(b) }
	if len(rs) != 7 {
		t.Fatalf("%d entries, want 7", len(rs))
	}
	for id, title := range map[string]string{fake.PrivateID: "[Private video]", fake.UnavailableID: "[Deleted video]"} {
		if s := text(id); !strings.Contains(s, title) || !strings.Contains(s, `"isPlayable":false`) || strings.Contains(s, "lengthSeconds") {
			t.Errorf("%s: %s, want %q, not playable, no length", id, s, title)
		}
	}
	if s := text(fake.LiveNowID); !strings.Contains(s, `"style":"LIVE"`) || !strings.Contains(s, "BADGE_STYLE_TYPE_LIVE_NOW") || strings.Contains(s, "lengthSeconds") {
		t.Errorf("live entry %s", s)
	}
	if s := text(fake.UpcomingID); !regexp.MustCompile(`"upcomingEventData":\{[^}]*"startTime":"\d+"`).MatchString(s) {
		t.Errorf("upcoming entry %s", s)
	}
	if s := text(fake.WasLiveID); !strings.Contains(s, "Streamed ") || !strings.Contains(s, `"lengthSeconds":"30"`) {
		t.Errorf("ended stream %s", s)
	}
	if s := text(fake.RickrollID); !strings.Contains(s, `"lengthSeconds":"213"`) {
		t.Errorf("plain entry %s", s)
	}
}

var initialData = regexp.MustCompile(`var ytInitialData = (\{.*?\});</script>`)

func page(t *testing.T, c *http.Client, u string) (int, map[string]any) {
	t.Helper()
	resp, body := get(t, c, http.MethodGet, u)
	m := initialData.FindSubmatch(body)
	if m == nil {
		return resp.StatusCode, nil
	}
	var out map[string]any
	if err := json.Unmarshal(m[1], &out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func TestEveryChannelLinkLeadsToTheChannel(t *testing.T) {
	srv, c := startListings(t)
	for _, p := range []string{"/@ytxfake", "/@YTXFake/videos", "/channel/" + fake.ChannelID + "/videos", "/c/ytxfake", "/user/ytxfake/videos"} {
		code, data := page(t, c, "https://www.youtube.com"+p)
		b, _ := json.Marshal(data["metadata"])
		if code != http.StatusOK || !strings.Contains(string(b), `"externalId":"`+fake.ChannelID+`"`) {
			t.Errorf("%s: %d, metadata %s", p, code, b)
		}
	}
	if code, _ := page(t, c, "https://www.youtube.com/@nobody-here/videos"); code != http.StatusNotFound {
		t.Errorf("a missing channel: %d, want 404", code)
	}
	if n := srv.Requests(fake.KindChannelPage); n != 6 {
		t.Errorf("%d channel page requests counted, want 6", n)
	}
}

func TestChannelTabsListNewestFirstInPagesOf30(t *testing.T) {
	_, c := startListings(t)
	_, data := page(t, c, "https://www.youtube.com/@ytxfake/videos")
	rs, token := entries(data, "videoRenderer")
	want := fake.IDs(fake.ManyVideos("chan", fake.ChannelSize))
	if !slices.Equal(ids(rs), want[:30]) || token == "" {
		t.Fatalf("first page %v, token %q", ids(rs), token)
	}
	rs, token = entries(browse(t, c, "WEB", "continuation", token), "videoRenderer")
	if !slices.Equal(ids(rs), want[30:]) || token != "" {
		t.Errorf("second page %v, token %q", ids(rs), token)
	}
	_, data = page(t, c, "https://www.youtube.com/@ytxfake/streams")
	if rs, _ := entries(data, "videoRenderer"); !slices.Equal(ids(rs), []string{fake.LiveNowID, fake.UpcomingID, fake.WasLiveID}) {
		t.Errorf("streams %v", ids(rs))
	}
}

func TestNewUploadComesFirstInTheUploadsPlaylist(t *testing.T) {
	srv, c := startListings(t)
	if err := srv.AddUpload(fake.ChannelID, fake.ZooID); err != nil {
		t.Fatal(err)
	}
	rs, _ := entries(browse(t, c, "ANDROID_VR", "browseId", "VL"+fake.ChannelUploadsID), "playlistVideoRenderer")
	if len(rs) != fake.ChannelSize+1 || rs[0]["videoId"] != fake.ZooID {
		t.Errorf("%d uploads, first %v", len(rs), rs[0]["videoId"])
	}
	if err := srv.AddUpload("UCnobodynobodynobodynobo", fake.ZooID); err == nil {
		t.Error("an upload to a channel that is not there was taken")
	}
}
