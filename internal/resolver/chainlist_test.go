package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/resolver"
)

// lister is a stand-in resolver that lists as told.
type lister struct {
	standIn
	list  error
	calls int
}

func (l *lister) List(context.Context, resolver.ListRequest) (*resolver.Listing, error) {
	l.calls++
	if l.list != nil {
		return nil, l.list
	}
	return &resolver.Listing{ID: "PLx", Resolver: l.name}, nil
}

var (
	playlistPrivate = failure.Definitive(v1alpha1.ReasonPlaylistUnavailable, nil, "YouTube says the playlist is private")
	listingFailed   = failure.Retryable(v1alpha1.ReasonListingFailed, nil, "HTTP 503")
	cannotList      = failure.Retryable(v1alpha1.ReasonListingFailed, resolver.ErrUnavailable, "kkdai cannot list a shorts tab")
	notInstalled    = failure.Retryable(v1alpha1.ReasonListingFailed, fmt.Errorf("%w: not installed", resolver.ErrUnavailable), "install yt-dlp")
)

func listChain(ls ...resolver.Resolver) *resolver.Chain {
	return resolver.NewChain(resolver.ChainOptions{}, ls...)
}

func TestListGoesOnToTheNextListerAfterAFailureItMayNotShare(t *testing.T) {
	for _, first := range []error{listingFailed, cannotList, botCheck, errors.New("unclassified")} {
		a, b := &lister{standIn: standIn{name: "kkdai"}, list: first}, &lister{standIn: standIn{name: "yt-dlp"}}
		l, err := listChain(a, b).List(context.Background(), resolver.ListRequest{})
		if err != nil || l.Resolver != "yt-dlp" || b.calls != 1 {
			t.Errorf("after %v: %v, %+v, second asked %d times", first, err, l, b.calls)
		}
	}
}

func TestListStopsAtYouTubesOwnWordAboutThePlaylist(t *testing.T) {
	a, b := &lister{standIn: standIn{name: "kkdai"}, list: playlistPrivate}, &lister{standIn: standIn{name: "yt-dlp"}}
	_, err := listChain(a, b).List(context.Background(), resolver.ListRequest{})
	if f, ok := failure.As(err); !ok || f.Reason != v1alpha1.ReasonPlaylistUnavailable || b.calls != 0 {
		t.Errorf("%v; second asked %d times", err, b.calls)
	}
}

func TestListStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a, b := &lister{standIn: standIn{name: "kkdai"}, list: listingFailed}, &lister{standIn: standIn{name: "yt-dlp"}}
	if _, err := listChain(a, b).List(ctx, resolver.ListRequest{}); err == nil || b.calls != 0 {
		t.Errorf("%v; second asked %d times after the context ended", err, b.calls)
	}
}

func TestListSkipsResolversThatCannotList(t *testing.T) {
	plain, b := &standIn{name: "plain"}, &lister{standIn: standIn{name: "yt-dlp"}}
	l, err := listChain(plain, b).List(context.Background(), resolver.ListRequest{})
	if err != nil || l.Resolver != "yt-dlp" || plain.calls != 0 {
		t.Errorf("%v %+v", err, l)
	}
	_, err = listChain(plain).List(context.Background(), resolver.ListRequest{})
	if f, ok := failure.As(err); !ok || f.Reason != v1alpha1.ReasonListingFailed || !strings.Contains(f.Message, "no resolver") {
		t.Errorf("no lister: %v", err)
	}
}

// A lister that could not run says nothing about the playlist: the one
// that ran speaks, and the message names both.
func TestListReportsTheFailureOfTheListerThatRan(t *testing.T) {
	a, b := &lister{standIn: standIn{name: "kkdai"}, list: listingFailed}, &lister{standIn: standIn{name: "yt-dlp"}, list: notInstalled}
	_, err := listChain(a, b).List(context.Background(), resolver.ListRequest{})
	f, ok := failure.As(err)
	if !ok || errors.Is(err, resolver.ErrUnavailable) || !strings.Contains(f.Message, "HTTP 503") || !strings.Contains(f.Message, "yt-dlp failed") {
		t.Errorf("%v, want kkdai's failure, naming yt-dlp's", err)
	}
	// Both failing for real: the last one speaks, after the first.
	a.list, b.list = listingFailed, botCheck
	_, err = listChain(a, b).List(context.Background(), resolver.ListRequest{})
	if f, ok := failure.As(err); !ok || f.Reason != v1alpha1.ReasonRateLimited || !strings.HasPrefix(f.Message, "kkdai failed (ListingFailed); then ") {
		t.Errorf("%v", err)
	}
}
