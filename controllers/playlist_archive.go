package controllers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/internal/youtube"
)

// archives keeps each playlist's archive in memory once read: the leader
// is its one writer, so its copy is the file's. A new leader reads the
// file again.
type archives struct {
	store storage.Store
	mu    sync.Mutex
	by    map[types.UID]*playlist.Archive
}

func newArchives(s storage.Store) *archives {
	return &archives{store: s, by: map[types.UID]*playlist.Archive{}}
}

// of returns the playlist's archive, reading it on first use; a missing
// file is an empty archive.
func (a *archives) of(ctx context.Context, pl *v1alpha1.YouTubePlaylist) (*playlist.Archive, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if arc, ok := a.by[pl.UID]; ok {
		return arc, nil
	}
	key := playlist.ArchiveKey(pl.Namespace, pl.Name, string(pl.UID))
	arc, err := a.read(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reading the archive %s: %w", a.store.URI(key), err)
	}
	a.by[pl.UID] = arc
	return arc, nil
}

// read reads the archive at key. Only Stat's error says that a key holds
// nothing (storage.ErrNotFound); Open's does not, in either store.
func (a *archives) read(ctx context.Context, key string) (*playlist.Archive, error) {
	_, err := a.store.Stat(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return playlist.NewArchive(), nil
	}
	if err != nil {
		return nil, err
	}
	rc, err := a.store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close() //nolint:errcheck // read only
	return playlist.ParseArchive(rc)
}

// save writes the archive whole (S3 has no append). On failure the memory
// forgets it, so that the next reconcile starts from the file again and
// adds the lines once more.
func (a *archives) save(ctx context.Context, pl *v1alpha1.YouTubePlaylist, arc *playlist.Archive) error {
	key := playlist.ArchiveKey(pl.Namespace, pl.Name, string(pl.UID))
	body := arc.Bytes()
	if _, err := a.store.Put(ctx, key, bytes.NewReader(body), storage.PutOptions{Size: int64(len(body)), MediaType: "text/plain", Writer: "ytx manager"}); err != nil {
		a.forget(pl.UID)
		return fmt.Errorf("writing the archive %s: %w", a.store.URI(key), err)
	}
	return nil
}

func (a *archives) forget(uid types.UID) {
	a.mu.Lock()
	delete(a.by, uid)
	a.mu.Unlock()
}

// permanentReasons are the failures no later sync would mend: the video is
// gone, private, or has nothing the template asks for. A child that failed
// otherwise (its retries ran out on the network, say) is not archived: once
// its TTL deletes it, the next sync makes it again.
var permanentReasons = map[string]bool{
	v1alpha1.ReasonVideoUnavailable:  true,
	v1alpha1.ReasonLoginRequired:     true,
	v1alpha1.ReasonFormatUnavailable: true,
	v1alpha1.ReasonInvalidURL:        true,
	v1alpha1.ReasonArtifactTooLarge:  true,
}

// record adds to the archive the videos the playlist is done with: the
// children that succeeded or failed for good, and the children being
// deleted (by their TTL, by hand, or with the playlist) unless they failed
// in a way a later sync may mend. Once the archive is written, it lets the
// deleted children go (removes Finalizer).
func (r *PlaylistReconciler) record(ctx context.Context, pl *v1alpha1.YouTubePlaylist, children []v1alpha1.YouTubeExtraction) (*playlist.Archive, error) {
	arc, err := r.archives.of(ctx, pl)
	if err != nil {
		return nil, err
	}
	added := 0
	var release []*v1alpha1.YouTubeExtraction
	for i := range children {
		x := &children[i]
		deleting := !x.DeletionTimestamp.IsZero()
		if deleting && controllerutil.ContainsFinalizer(x, playlist.Finalizer) {
			release = append(release, x)
		}
		id, err := youtube.VideoID(x.Spec.URL)
		if err != nil || arc.Has(id) {
			continue
		}
		done, err := r.done(ctx, x)
		if err != nil {
			return nil, err
		}
		if done || deleting && x.Status.Phase != v1alpha1.PhaseFailed {
			arc.Add(id)
			added++
		}
	}
	if added > 0 {
		if err := r.archives.save(ctx, pl, arc); err != nil {
			return nil, err
		}
	}
	for _, x := range release {
		if err := r.letChildGo(ctx, x); err != nil {
			return nil, fmt.Errorf("letting %s go: %w", describeChild(x), err)
		}
	}
	return arc, nil
}

// done says whether a child's video is done for good: it succeeded, or
// failed for a permanent reason. The cache drops a finished child's
// conditions, so a failed one is read once from the API server.
func (r *PlaylistReconciler) done(ctx context.Context, x *v1alpha1.YouTubeExtraction) (bool, error) {
	switch x.Status.Phase {
	case v1alpha1.PhaseSucceeded:
		return true, nil
	case v1alpha1.PhaseFailed:
	default:
		return false, nil
	}
	if v, ok := r.permanent.Load(x.UID); ok {
		return v.(bool), nil
	}
	var full v1alpha1.YouTubeExtraction
	if err := r.reader.Get(ctx, client.ObjectKeyFromObject(x), &full); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	reason := ""
	for _, c := range full.Status.Conditions {
		if c.Type == v1alpha1.ConditionFailed && c.Status == "True" {
			reason = c.Reason
		}
	}
	p := permanentReasons[reason]
	r.permanent.Store(x.UID, p)
	return p, nil
}

func equalStatus(a, b v1alpha1.YouTubePlaylistStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}
