package youtube

import "testing"

// A handle's page names its channel in ytInitialData and in its head; kkdai
// needs the ID, and a page that names it in any of these ways, however its
// JSON is spaced, must give it; a page that names none gives none, so that
// the chain goes on to yt-dlp.
func TestChannelIDIsReadFromEveryMarkAPageHasOfIt(t *testing.T) {
	const id = "UCuAXFkgsw1L7xaCfnd5JJOw"
	for name, page := range map[string]string{
		"compact JSON":          `<script>var ytInitialData = {"metadata":{"channelMetadataRenderer":{"title":"Rick Astley","externalId":"` + id + `"}}};</script>`,
		"spaced JSON":           `<script>var ytInitialData = {"metadata": {"channelMetadataRenderer": {"title": "Rick Astley", "externalId": "` + id + `"}}};</script>`,
		"canonical link":        `<html><head><link rel="canonical" href="https://www.youtube.com/channel/` + id + `"></head></html>`,
		"og:url":                `<html><head><meta property="og:url" content="https://www.youtube.com/channel/` + id + `"></head></html>`,
		"canonical before JSON": `<link rel="canonical" href="https://www.youtube.com/channel/` + id + `"><script>{"externalId":"` + id + `"}</script>`,
	} {
		if got := channelIDOfPage([]byte(page)); got != id {
			t.Errorf("%s: %q, want %s", name, got, id)
		}
	}
	for name, page := range map[string]string{
		"no mark":                `<html><head><link rel="canonical" href="https://www.youtube.com/"></head></html>`,
		"another field's ID":     `{"channelId":"` + id + `","externalChannelId":"` + id + `"}`,
		"an ID one letter short": `{"externalId":"` + id[:23] + `"}`,
	} {
		if got := channelIDOfPage([]byte(page)); got != "" {
			t.Errorf("%s: %q, want none", name, got)
		}
	}
}
