package resolver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
)

// List reads a listing with each resolver that is a Lister, in the
// chain's order, until one succeeds. It goes on to the next after any
// failure the next might not share: the network, YouTube's answer to one
// client, a page one parser cannot read, a target one lister cannot read
// (kkdai and a shorts tab). It stops at once when the context ends, and at
// a definitive failure: YouTube's own word that the playlist or channel is
// private or not there, which every client gets alike, so asking another
// would only cost a request and a yt-dlp start.
//
// The failure it reports is the most telling: the definitive one if any;
// else the last one from a lister that ran, with the others named before
// it; a lister that could not run at all (ErrUnavailable) speaks only when
// no other did.
func (c *Chain) List(ctx context.Context, req ListRequest) (*Listing, error) {
	var trail []string
	var ran, lastErr error
	ranAt := -1 // ran's place in trail
	for _, r := range c.resolvers {
		l, ok := r.(Lister)
		if !ok {
			continue
		}
		out, err := l.List(ctx, req)
		if err == nil {
			c.observe(Outcome{Resolver: l.Name()})
			return out, nil
		}
		o := Outcome{Resolver: l.Name(), Err: err}
		f, _ := failure.As(err)
		if f != nil {
			o.Reason = f.Reason
		}
		c.observe(o)
		if ctx.Err() != nil || (f != nil && f.Definitive) {
			return nil, withTrail(err, trail)
		}
		trail = append(trail, fmt.Sprintf("%s failed (%s)", l.Name(), orText(o.Reason, "error")))
		lastErr = err
		if !errors.Is(err, ErrUnavailable) {
			ran, ranAt = err, len(trail)-1
		}
	}
	switch {
	case ran != nil:
		return nil, withTrail(ran, append(trail[:ranAt:ranAt], trail[ranAt+1:]...))
	case lastErr != nil:
		return nil, lastErr
	}
	return nil, failure.Permanent(v1alpha1.ReasonListingFailed, nil, "no resolver in --resolvers can list playlists and channels (kkdai and yt-dlp can)")
}

// withTrail puts the outcomes of the listers tried before in front of
// err's message.
func withTrail(err error, trail []string) error {
	f, ok := failure.As(err)
	if !ok || len(trail) == 0 {
		return err
	}
	out := *f
	out.Message = strings.Join(trail, ", ") + "; then " + f.Message
	return &out
}
