package workers

import (
	"context"
	"errors"

	"ytx.dev/ytx/internal/job"
)

// HandleListing reads the playlist that m names (m.Kind is
// job.KindListing, m.Attempt its status.sync), stores the listing and
// writes the result onto the playlist's status.
func (w *Worker) HandleListing(ctx context.Context, m job.Message) error {
	return errors.New("listing jobs: in progress")
}
