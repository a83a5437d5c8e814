package workers

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/media"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/scratch"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/internal/youtube"
)

// extract reads the video and makes what the spec asks for: info.json
// always, then the thumbnail, audio and video when asked. Each product is a
// step of its own that downloads into a private scratch directory, runs
// ffmpeg where needed, and stores the result; the scratch directory goes
// when the attempt ends, however it ends.
//
// The video is read by the worker's resolver chain: when one resolver
// fails in a way the next might not (YouTube refused its client's media,
// say), the next reads the video again and the steps run again from the
// start, in the same attempt.
func (w *Worker) extract(ctx context.Context, t *task) outcome {
	dir, err := scratch.New(w.opts.ScratchDir, t.videoID)
	if err != nil {
		return failed(failure.Scratch("making a job directory in", scratchName(w.opts.ScratchDir), err))
	}
	defer dir.Close() //nolint:errcheck // best effort; a later worker's Sweep removes what is left
	req, err := w.request(ctx, t.videoID, dir.Path)
	if err != nil {
		return failed(err)
	}
	needsMedia := t.spec.Audio != nil || t.spec.Video != nil
	used, err := w.chain.Run(ctx, req, needsMedia,
		func(ctx context.Context, r resolver.Resolver, v *resolver.Video, last bool) error {
			t.reset(r.Name())
			run := &run{w: w, t: t, v: v, r: r, req: req, dir: dir.Path, refusalEndsIt: !last}
			return run.steps(ctx)
		},
		func(o resolver.Outcome) {
			w.log.Info("resolver failed; trying the next", "job", t.claim.msg.String(), "resolver", o.Resolver, "reason", o.Reason, "next", o.Next, "error", o.Err.Error())
			w.event(t.claim.object(), corev1.EventTypeNormal, v1alpha1.EventResolverFallback,
				"%s could not serve attempt %d (%s); trying %s", o.Resolver, t.claim.msg.Attempt, o.Reason, o.Next)
		})
	if err != nil {
		if f, ok := failure.As(err); ok && f.Reason == v1alpha1.ReasonRateLimited {
			d := w.pacer.Rest(req.Proxy)
			w.log.Info("YouTube asked for a pause; this route rests", "job", t.claim.msg.String(), "route", youtube.ProxyName(req.Proxy), "for", d.String())
		}
		return failed(err)
	}
	t.resolver = used.Name()
	return outcome{}
}

// request is what the job asks of the resolvers: its route to YouTube (a
// proxy, chosen when the pacer lets the job start), its cookies and its
// HTTP clients.
func (w *Worker) request(ctx context.Context, videoID string, dir string) (resolver.Request, error) {
	proxy, err := w.pacer.Start(ctx)
	if err != nil {
		return resolver.Request{}, youtube.Classify(err)
	}
	page, mediaClient := w.clients.For(proxy)
	req := resolver.Request{VideoID: videoID, Proxy: proxy, Scratch: dir, HTTP: page, Media: mediaClient}
	if w.cookies != nil {
		jar, err := w.cookies.Jar()
		if err != nil {
			// The last good cookies stay in use; the file may be being
			// replaced.
			w.log.Info("reading the cookies file failed; using the cookies read before", "error", err.Error())
		}
		withJar := *page
		withJar.Jar = jar
		req.HTTP = &withJar
		req.Cookies = w.cookies.Path()
	}
	return req, nil
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
	audio       *resolver.Format
	audioFormat v1alpha1.AudioFormat
	video       media.Choice // Video nil: no video asked for
	// thumbnail is the largest thumbnail's URL: stored when the spec asks,
	// and embedded as album art in audio files.
	thumbnail string
}

// planFor picks the streams for spec. A video that lacks what the spec asks
// for fails here, before anything is downloaded.
func planFor(v *resolver.Video, spec v1alpha1.YouTubeExtractionSpec) (plan, error) {
	p := plan{thumbnail: v.LargestThumbnail()}
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
	for _, f := range []*resolver.Format{p.audio, p.video.Video, p.video.Audio} {
		if f != nil && f.ContentLength > 0 {
			n += f.ContentLength
		}
	}
	return n
}

// wants lists the files the plan makes, in the order of status.artifacts.
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

// File names of an attempt, under storage.AttemptPrefix.
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

// waitAvailable waits until f's URL is served (yt-dlp says when, for
// clients whose URLs start working a little after they are handed out),
// at most maxAvailableWait.
func waitAvailable(ctx context.Context, f *resolver.Format) error {
	if f.AvailableAt.IsZero() {
		return nil
	}
	d := min(time.Until(f.AvailableAt), maxAvailableWait)
	if d <= 0 {
		return nil
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxAvailableWait bounds waitAvailable.
const maxAvailableWait = time.Minute
