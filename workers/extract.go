package workers

import (
	"context"

	"ytx.dev/ytx/internal/youtube"
)

// extract reads the video and makes what the spec asks for. Each product is
// a step of its own; media steps join metadata here.
func (w *Worker) extract(ctx context.Context, t *task) outcome {
	v, err := w.videos.Video(ctx, t.videoID)
	if err != nil {
		return outcome{err: youtube.Classify(err)}
	}
	t.metadata = youtube.Metadata(v)
	return outcome{}
}
