package kafka

import (
	"testing"
	"time"

	"ytx.dev/ytx/internal/job"
)

// A listing job goes to the listing topic, which workers built before
// listings never read; an extraction's stays on the job topic.
func TestPublisherSendsEachKindToItsTopic(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newCluster(t), 1)
	cfg.ListingTopic = "lists-" + cfg.Topic
	if err := EnsureTopics(ctxFor(t, 10*time.Second), cfg, 1, cfg.ListingTopic); err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, cfg)
	listing := jobMsg("daily-mix", 3)
	listing.Kind = job.KindListing
	for _, m := range []job.Message{jobMsg("song", 1), listing, jobMsg("other-song", 1)} {
		if err := p.Publish(ctxFor(t, 10*time.Second), m); err != nil {
			t.Fatalf("Publish(%s): %v", m, err)
		}
	}
	c := client(t, cfg)
	if got := endOffsets(t, c, cfg.Topic, 1)[0]; got != 2 {
		t.Errorf("job topic holds %d messages, want the 2 extractions", got)
	}
	if got := endOffsets(t, c, cfg.ListingTopic, 1)[0]; got != 1 {
		t.Fatalf("listing topic holds %d messages, want the listing", got)
	}
	at, err := p.PublishKeyed(ctxFor(t, 10*time.Second), listing, listing.Key())
	if err != nil {
		t.Fatal(err)
	}
	if at.Offset != 1 {
		t.Errorf("a second listing landed at %+v; want offset 1 of the listing topic", at)
	}
}
