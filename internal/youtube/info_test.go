package youtube_test

import (
	"encoding/json"
	"testing"

	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
)

// info.json carries what status cannot: the whole description and every
// format YouTube offered, under yt-dlp's key names.
func TestInfoDescribesEveryFormat(t *testing.T) {
	_, hc := startFake(t)
	want := fixture(t, fake.RickrollID)
	v, err := youtube.NewClient(hc).Video(testContext(t), fake.RickrollID)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(youtube.NewInfo(youtube.FromKKDAI(v)))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	for key, value := range map[string]any{
		"id":          fake.RickrollID,
		"title":       want.Title,
		"description": want.Description,
		"uploader":    want.Author,
		"channel_id":  want.ChannelID,
		"duration":    float64(want.LengthSeconds),
		"view_count":  float64(want.ViewCount),
		"upload_date": want.PublishDate.UTC().Format("20060102"),
		"webpage_url": "https://www.youtube.com/watch?v=" + fake.RickrollID,
	} {
		if got[key] != value {
			t.Errorf("%s = %v, want %v", key, got[key], value)
		}
	}
	formats, _ := got["formats"].([]any)
	if len(formats) != len(want.Formats) {
		t.Fatalf("%d formats, want %d", len(formats), len(want.Formats))
	}
	byID := map[string]map[string]any{}
	for _, f := range formats {
		m := f.(map[string]any)
		byID[m["format_id"].(string)] = m
	}
	for id, w := range map[string]struct{ ext, vcodec, acodec string }{
		"18":  {"mp4", "avc1.42001E", "mp4a.40.2"},
		"137": {"mp4", "avc1.640028", "none"},
		"247": {"webm", "vp9", "none"},
		"140": {"m4a", "none", "mp4a.40.2"},
		"251": {"webm", "none", "opus"},
	} {
		f := byID[id]
		if f == nil || f["ext"] != w.ext || f["vcodec"] != w.vcodec || f["acodec"] != w.acodec {
			t.Errorf("format %s = %v, want ext %s vcodec %s acodec %s", id, f, w.ext, w.vcodec, w.acodec)
		}
	}
	if f := byID["137"]; f["height"] != float64(1080) || f["filesize"] == nil {
		t.Errorf("format 137 lacks height or filesize: %v", f)
	}
	if th, _ := got["thumbnails"].([]any); len(th) == 0 || got["thumbnail"] == "" {
		t.Errorf("no thumbnails: %v", got["thumbnails"])
	}
}
