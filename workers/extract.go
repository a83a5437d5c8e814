package workers

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"

	kkdai "github.com/kkdai/youtube/v2"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/media"
	"ytx.dev/ytx/internal/scratch"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/internal/youtube"
)

// extract reads the video and makes what the spec asks for: info.json
// always, then the thumbnail, audio and video when asked. Each product is a
// step of its own that downloads into a private scratch directory, runs
// ffmpeg where needed, and stores the result; the scratch directory goes
// when the attempt ends, however it ends.
func (w *Worker) extract(ctx context.Context, t *task) outcome {
	v, err := w.videos.Video(ctx, t.videoID)
	if err != nil {
		return failed(err)
	}
	t.metadata = youtube.Metadata(v)
	p, err := planFor(v, t.spec)
	if err != nil {
		return failed(err)
	}
	t.bytesTotal.Store(p.size())

	dir, err := scratch.New(w.opts.ScratchDir, t.videoID)
	if err != nil {
		return failed(failure.Scratch("making a job directory in", scratchName(w.opts.ScratchDir), err))
	}
	defer dir.Close() //nolint:errcheck // best effort; a later worker's Sweep removes what is left
	r := &run{w: w, t: t, v: v, plan: p, dir: dir.Path}
	for _, step := range []func(context.Context) error{r.info, r.thumbnail, r.audio, r.video, r.prune} {
		if err := step(ctx); err != nil {
			return failed(err)
		}
	}
	return outcome{}
}

// failed classifies err for the resource's status. Each part classifies
// its own failures where they happen (see internal/failure); what reaches
// here unclassified is a local file error (the worker's scratch disk) or an
// error from reading YouTube.
func failed(err error) outcome {
	var pathErr *fs.PathError
	if errors.Is(err, errLostClaim) {
		return outcome{lost: true}
	}
	if f, ok := failure.As(err); ok {
		return outcome{err: f}
	}
	switch {
	case errors.Is(err, storage.ErrTooLarge):
		return outcome{err: failure.Permanent(v1alpha1.ReasonArtifactTooLarge, err,
			"a file passed the worker's size cap; raise the worker's --max-artifact-bytes or ask for a smaller format (spec.video.maxHeight)")}
	case errors.As(err, &pathErr):
		return outcome{err: failure.Scratch(pathErr.Op, pathErr.Path, err)}
	}
	return outcome{err: youtube.Classify(err)}
}

// plan is what one attempt fetches.
type plan struct {
	audio       *kkdai.Format
	audioFormat v1alpha1.AudioFormat
	video       media.Choice // Video nil: no video asked for
	// thumbnail is the largest thumbnail's URL: stored when the spec asks,
	// and embedded as album art in audio files.
	thumbnail string
}

// planFor picks the streams for spec. A video that lacks what the spec asks
// for fails here, before anything is downloaded.
func planFor(v *kkdai.Video, spec v1alpha1.YouTubeExtractionSpec) (plan, error) {
	p := plan{thumbnail: youtube.ThumbnailURL(v)}
	var err error
	if spec.Audio != nil {
		p.audioFormat = spec.Audio.Format
		if p.audio, err = media.AudioFor(v.Formats, string(spec.Audio.Format)); err != nil {
			return p, err
		}
	}
	if spec.Video != nil {
		if p.video, err = media.VideoFor(v.Formats, int(spec.Video.MaxHeight)); err != nil {
			return p, err
		}
	}
	return p, nil
}

// size is the number of bytes the plan downloads, as far as YouTube says.
func (p plan) size() int64 {
	var n int64
	for _, f := range []*kkdai.Format{p.audio, p.video.Video, p.video.Audio} {
		if f != nil && f.ContentLength > 0 {
			n += f.ContentLength
		}
	}
	return n
}

// kinds lists the artifacts the plan makes, in the order of status.artifacts.
func (p plan) wants(spec v1alpha1.YouTubeExtractionSpec) []string {
	names := []string{infoFile}
	if spec.Thumbnail {
		names = append(names, thumbnailFile)
	}
	if p.audio != nil {
		names = append(names, audioFile(p.audioFormat))
	}
	if p.video.Video != nil {
		names = append(names, videoFile)
	}
	return names
}

// File names under <prefix>/<namespace>/<name>/.
const (
	infoFile      = "info.json"
	thumbnailFile = "thumbnail.jpg"
	videoFile     = "video.mp4"
)

func audioFile(f v1alpha1.AudioFormat) string {
	switch f {
	case v1alpha1.AudioOpus:
		return "audio.webm"
	case v1alpha1.AudioMP3:
		return "audio.mp3"
	}
	return "audio.m4a"
}

// mediaTypes of the stored files.
var mediaTypes = map[string]string{
	infoFile:      "application/json",
	thumbnailFile: "image/jpeg",
	videoFile:     "video/mp4",
	"audio.m4a":   "audio/mp4",
	"audio.webm":  "audio/webm",
	"audio.mp3":   "audio/mpeg",
}

func scratchName(dir string) string {
	if dir == "" {
		return os.TempDir()
	}
	return dir
}

// isWanted reports whether key names one of the files of the plan.
func isWanted(wanted []string, ns, name, key string) bool {
	return slices.ContainsFunc(wanted, func(f string) bool { return storage.Key(ns, name, f) == key })
}
