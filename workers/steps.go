package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"

	kkdai "github.com/kkdai/youtube/v2"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/download"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/media"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/internal/youtube"
)

// run is one resolver's turn at an attempt's extraction.
type run struct {
	w    *Worker
	t    *task
	v    *resolver.Video
	r    resolver.Resolver
	req  resolver.Request
	plan plan
	dir  string // scratch, removed when the attempt ends
	// refusalEndsIt: another resolver follows, so a download that YouTube
	// refuses ends at once rather than after its retries.
	refusalEndsIt bool
	// cover is the downloaded thumbnail, "" until fetched or when there is
	// none.
	cover string
}

// steps plans the downloads and makes every file, in order.
func (r *run) steps(ctx context.Context) error {
	r.t.metadata = youtube.Metadata(r.v)
	p, err := planFor(r.v, r.t.spec)
	if err != nil {
		return err
	}
	r.plan = p
	r.t.bytesTotal.Store(p.size())
	for _, step := range []func(context.Context) error{r.info, r.thumbnail, r.audio, r.video, r.prune} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// maxThumbnailBytes bounds a thumbnail download: YouTube's largest are a few
// hundred KB.
const maxThumbnailBytes = 16 << 20

// info stores info.json: the full metadata and every format offered.
func (r *run) info(ctx context.Context) error {
	raw, err := json.MarshalIndent(youtube.NewInfo(r.v), "", "  ")
	if err != nil {
		return err
	}
	return r.store(ctx, v1alpha1.ArtifactInfo, infoFile, bytes.NewReader(raw), int64(len(raw)))
}

// thumbnail fetches the largest thumbnail when the spec wants it stored or
// an audio file wants it as album art.
func (r *run) thumbnail(ctx context.Context) error {
	want := r.t.spec.Thumbnail
	if r.plan.thumbnail == "" || (!want && r.plan.audio == nil) {
		return nil
	}
	path := filepath.Join(r.dir, thumbnailFile)
	if err := r.fetchSmall(ctx, r.plan.thumbnail, path); err != nil {
		if !want {
			// Album art is a nicety: audio without it beats no audio.
			r.w.log.Info("no album art: fetching the thumbnail failed", KeyJob, r.t.claim.msg.String(), "error", err.Error())
			return nil
		}
		return err
	}
	r.cover = path
	if !want {
		return nil
	}
	return r.storeFile(ctx, v1alpha1.ArtifactThumbnail, thumbnailFile, path)
}

// audio downloads the chosen audio stream and has ffmpeg tag it (and
// transcode it, for mp3).
func (r *run) audio(ctx context.Context) error {
	if r.plan.audio == nil {
		return nil
	}
	in := filepath.Join(r.dir, "audio.source")
	if err := r.download(ctx, r.plan.audio, in); err != nil {
		return err
	}
	name := audioFile(r.plan.audioFormat)
	out := filepath.Join(r.dir, name)
	if err := r.w.ffmpeg.Audio(ctx, in, out, string(r.plan.audioFormat), r.tags(), r.cover); err != nil {
		return err
	}
	os.Remove(in) //nolint:errcheck // frees scratch space early; RemoveAll follows
	return r.storeFile(ctx, v1alpha1.ArtifactAudio, name, out)
}

// video downloads the chosen video (and audio) streams and has ffmpeg mux
// them into one mp4 without re-encoding.
func (r *run) video(ctx context.Context) error {
	c := r.plan.video
	if c.Video == nil {
		return nil
	}
	vin, ain := filepath.Join(r.dir, "video.source"), ""
	if err := r.download(ctx, c.Video, vin); err != nil {
		return err
	}
	if c.Audio != nil {
		ain = filepath.Join(r.dir, "video-audio.source")
		if err := r.download(ctx, c.Audio, ain); err != nil {
			return err
		}
	}
	out := filepath.Join(r.dir, videoFile)
	if err := r.w.ffmpeg.Mux(ctx, vin, ain, out, r.tags()); err != nil {
		return err
	}
	return r.storeFile(ctx, v1alpha1.ArtifactVideo, videoFile, out)
}

// prune deletes what earlier attempts and generations of this extraction
// stored (say audio.m4a after the spec changed to mp3, or the info.json of
// an attempt that was killed), so that a resource never ends with two sets
// of files, and what this attempt's own prefix holds that its result does
// not list (left by a worker that handed the same attempt back).
//
// It also sweeps what earlier attempts left when their worker was killed
// mid-upload (temporary files, open multipart uploads). It never touches
// another extraction's files, however it is named: they live under another
// UID.
func (r *run) prune(ctx context.Context) error {
	if err := r.fence(ctx); err != nil {
		return err
	}
	c := r.t.claim
	mine, prefix := c.attempt(), c.extractionPrefix()
	earlier := func(key string) bool {
		a, _, ok := storage.ParseAttemptKey(prefix, key)
		return ok && a.Before(mine)
	}
	if err := r.w.store.DeleteIncomplete(ctx, prefix, earlier); err != nil {
		return r.storageError("sweeping interrupted uploads", prefix, err)
	}
	keys, err := r.w.store.List(ctx, prefix)
	if err != nil {
		return r.storageError("listing the files", prefix, err)
	}
	wanted := r.plan.wants(r.t.spec)
	for _, k := range keys {
		a, file, ok := storage.ParseAttemptKey(prefix, k)
		if !ok || mine.Before(a) || (a == mine && slices.Contains(wanted, file)) {
			continue
		}
		if err := r.w.store.Delete(ctx, k); err != nil {
			return r.storageError("deleting the stale file", k, err)
		}
	}
	return r.pruneLegacy(ctx)
}

// pruneLegacy deletes the files that this extraction stored under the
// earlier layout (<namespace>/<name>/<file>, before an upgrade of ytx),
// which a new generation replaces. The first attempt of the first
// generation has none to replace, and skips the reads.
func (r *run) pruneLegacy(ctx context.Context) error {
	c := r.t.claim
	if c.attempt() == (storage.Attempt{Generation: 1, Attempt: 1}) {
		return nil
	}
	x := c.object()
	keys, err := storage.OwnedLegacyKeys(ctx, r.w.store, x.Namespace, x.Name, x.CreationTimestamp.Time)
	if err != nil {
		return r.storageError("reading the files of the earlier layout", storage.NamePrefix(x.Namespace, x.Name), err)
	}
	for _, k := range keys {
		if err := r.w.store.Delete(ctx, k); err != nil {
			return r.storageError("deleting the stale file", k, err)
		}
	}
	return nil
}

// download fetches format f into path with ranged requests, through the
// job's route, counting bytes for progress.
func (r *run) download(ctx context.Context, f *resolver.Format, path string) error {
	u, header, err := r.r.MediaURL(ctx, r.req, r.v, f)
	if err != nil {
		return err
	}
	if err := waitAvailable(ctx, f); err != nil {
		return youtube.Classify(err)
	}
	d := download.Downloader{HTTP: r.req.Media, Options: r.w.download.Options}
	s := download.Stream{URL: u, Header: header, Size: f.ContentLength, RefusalEndsIt: r.refusalEndsIt}
	return d.Fetch(ctx, s, path, func(n int64) { r.t.bytesDone.Add(n) })
}

// fetchSmall GETs a small file (a thumbnail) into path.
func (r *run) fetchSmall(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return youtube.RedactError(err)
	}
	resp, err := r.req.HTTP.Do(req)
	if err != nil {
		return youtube.RedactError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return kkdai.ErrUnexpectedStatusCode(resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return failure.Scratch("creating", path, err)
	}
	n, err := io.Copy(f, io.LimitReader(resp.Body, maxThumbnailBytes+1))
	if cerr := f.Close(); err == nil && cerr != nil {
		return failure.Scratch("writing", path, cerr)
	}
	if err == nil && n > maxThumbnailBytes {
		err = fmt.Errorf("thumbnail %s is larger than %d bytes", youtube.RedactURL(url), maxThumbnailBytes)
	}
	return err
}

// storeFile stores the scratch file at path as name.
func (r *run) storeFile(ctx context.Context, kind v1alpha1.ArtifactKind, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return failure.Scratch("opening", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return failure.Scratch("reading", path, err)
	}
	return r.store(ctx, kind, name, f, fi.Size())
}

// store puts one file into storage and records it as an artifact.
func (r *run) store(ctx context.Context, kind v1alpha1.ArtifactKind, name string, body io.Reader, size int64) error {
	if err := r.fence(ctx); err != nil {
		return err
	}
	x := r.t.claim.msg
	key := r.t.claim.attemptPrefix() + name
	obj, err := r.w.store.Put(ctx, key, body, storage.PutOptions{Size: size, MaxBytes: r.w.opts.MaxArtifactBytes, MediaType: mediaTypes[name], Writer: r.t.claim.writer()})
	if err != nil {
		return r.storageError("storing", key, err)
	}
	r.w.log.Info(LogStored, KeyJob, x.String(), KeyKey, key, KeyBytes, obj.Size, KeySHA256, obj.SHA256)
	r.t.artifacts = append(r.t.artifacts, v1alpha1.Artifact{Kind: kind, URI: obj.URI, MediaType: mediaTypes[name], SizeBytes: obj.Size, SHA256: obj.SHA256})
	return nil
}

// fence makes sure the attempt is still this worker's before it writes to
// storage. The heartbeat notices a lost claim only at its next tick; a
// worker that was paused (SIGSTOP, a long GC, a frozen VM) and wakes after
// the controller gave the attempt to another worker must not overwrite the
// newer attempt's files in the meantime.
//
// A claim confirmed within the last second needs no read (see fenceFresh):
// a quick job then costs the API server no extra requests.
func (r *run) fence(ctx context.Context) error {
	if r.t.claim.fresh() || r.w.stillOurs(ctx, r.t) {
		return nil
	}
	return errLostClaim
}

// storageError classifies a storage failure: too large is permanent, the
// rest (store down, credentials, full disk) transient.
func (r *run) storageError(what, key string, err error) error {
	if errors.Is(err, storage.ErrTooLarge) {
		return err
	}
	return failure.Storage(what, r.w.store.URI(key), err)
}

// tags are the metadata embedded into audio and video files.
func (r *run) tags() media.Tags {
	m := r.t.metadata
	return media.Tags{
		Title:   m.Title,
		Artist:  m.Author,
		Date:    m.PublishDate,
		Comment: "https://www.youtube.com/watch?v=" + r.t.videoID,
	}
}
