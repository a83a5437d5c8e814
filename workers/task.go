package workers

import (
	"sync/atomic"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
)

// task is one running attempt: what it was asked for and what it has made.
type task struct {
	claim     *claim
	spec      v1alpha1.YouTubeExtractionSpec
	videoID   string
	metadata  v1alpha1.VideoMetadata
	artifacts []v1alpha1.Artifact
	// resolver read the video and served the files.
	resolver string

	// Byte counters, written by downloads and read by the heartbeat.
	bytesDone, bytesTotal atomic.Int64
}

func newTask(c *claim) *task {
	x := c.object()
	return &task{claim: c, spec: x.Spec, videoID: x.Status.VideoID}
}

// progress is a snapshot of the byte counters.
func (t *task) progress() v1alpha1.Progress {
	p := v1alpha1.Progress{BytesDone: t.bytesDone.Load(), BytesTotal: t.bytesTotal.Load()}
	if p.BytesTotal > 0 {
		p.Percent = int32(min(100, p.BytesDone*100/p.BytesTotal))
	}
	return p
}

// apply copies what the task made onto the resource's status.
func (t *task) apply(x *v1alpha1.YouTubeExtraction) {
	if t.metadata != (v1alpha1.VideoMetadata{}) {
		md := t.metadata
		x.Status.Metadata = &md
	}
	x.Status.Artifacts = t.artifacts
	x.Status.Resolver = t.resolver
	p := t.progress()
	x.Status.Progress = &p
}

// reset forgets what an earlier resolver's turn made: the next one makes
// every file again (storing over them, under the same keys).
func (t *task) reset(resolver string) {
	t.artifacts = nil
	t.metadata = v1alpha1.VideoMetadata{}
	t.resolver = resolver
	t.bytesDone.Store(0)
	t.bytesTotal.Store(0)
}
