package youtube

import (
	"errors"
	"net/url"
	"strings"

	"ytx.dev/ytx/internal/resolver"
)

// ParseListURL: temporary, replaced by the i16-purl branch.
func ParseListURL(raw string) (resolver.Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return resolver.Target{}, err
	}
	if l := u.Query().Get("list"); l != "" {
		return resolver.Target{Kind: resolver.TargetPlaylist, PlaylistID: l}, nil
	}
	p := strings.Split(strings.Trim(u.Path, "/"), "/")
	t := resolver.Target{Kind: resolver.TargetChannel, Tab: resolver.TabVideos}
	switch {
	case len(p) >= 2 && p[0] == "channel":
		t.ChannelID = p[1]
	case strings.HasPrefix(p[0], "@"):
		t.Handle = p[0]
	default:
		return t, errors.New("not a list")
	}
	return t, nil
}
