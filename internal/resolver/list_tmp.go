package resolver

import (
	"context"
	"errors"
)

// List: temporary, replaced by the i16-fake branch.
func (c *Chain) List(ctx context.Context, req ListRequest) (*Listing, error) {
	var last error = errors.New("no resolver lists playlists")
	for _, r := range c.resolvers {
		if l, ok := r.(Lister); ok {
			out, err := l.List(ctx, req)
			if err == nil {
				return out, nil
			}
			last = err
		}
	}
	return nil, last
}
