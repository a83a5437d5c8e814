package storage

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// The layout: every object belongs to exactly one extraction, named by its
// UID, and within it to exactly one attempt:
//
//	<namespace>/<name>/<uid>/<generation>-<attempt>/<file>
//
// or, for an extraction a playlist made (ExtractionPrefixIn), the same
// under the playlist's own directory:
//
//	<namespace>/<playlist>/<playlist uid>/videos/<name>/<uid>/<generation>-<attempt>/<file>
//
// The namespace and name come first so that people (and `aws s3 ls`) find an
// extraction's files where they expect them. The UID keeps a resource
// created again under the same name (the same manifest applied again, a
// GitOps tool recreating it) out of the files an earlier one retained. The
// attempt makes the storage fence a lock: an attempt writes only under keys
// of its own, so a stale worker that wakes after the controller gave its
// attempt to another one can write nothing the newer attempt stored, and the
// status, which only the claim holder can write, says which attempt's files
// are the result.
//
// Every key that code deletes or serves is derived from these rules (from
// the namespace, name, UID, generation and attempt), never taken from a URI
// in status, which anyone allowed to patch status could point elsewhere.

// NamePrefix holds every extraction that ever had this namespace and name:
// "<namespace>/<name>/". The trailing slash keeps "ns/name/" from matching
// "ns/name-2/".
func NamePrefix(namespace, name string) string {
	return path.Join(namespace, name) + "/"
}

// ExtractionPrefix holds every object of one extraction:
// "<namespace>/<name>/<uid>/".
func ExtractionPrefix(namespace, name, uid string) string {
	return NamePrefix(namespace, name) + uid + "/"
}

// Parent names the playlist an extraction belongs to (its spec.playlist,
// which never changes).
type Parent struct{ Name, UID string }

// VideosDir holds a playlist's extractions under its prefix. No other
// object of a playlist is under it (its archive and listings are beside
// it), so no extraction's name can collide with one.
const VideosDir = "videos/"

// ExtractionPrefixIn holds every object of one extraction: for a
// playlist's, "<namespace>/<playlist>/<playlist uid>/videos/<name>/<uid>/",
// under the playlist that made it, and still its own by its UID; for any
// other, ExtractionPrefix.
func ExtractionPrefixIn(p *Parent, namespace, name, uid string) string {
	if p == nil {
		return ExtractionPrefix(namespace, name, uid)
	}
	return ExtractionPrefix(namespace, p.Name, p.UID) + VideosDir + name + "/" + uid + "/"
}

// AttemptPrefixIn is AttemptPrefix under ExtractionPrefixIn.
func AttemptPrefixIn(p *Parent, namespace, name, uid string, a Attempt) string {
	return ExtractionPrefixIn(p, namespace, name, uid) + a.String() + "/"
}

// Attempt names one attempt of one generation of an extraction.
type Attempt struct {
	Generation int64
	Attempt    int32
}

// String is the attempt's path segment: "<generation>-<attempt>".
func (a Attempt) String() string {
	return strconv.FormatInt(a.Generation, 10) + "-" + strconv.FormatInt(int64(a.Attempt), 10)
}

// Before reports whether a came before b: an earlier generation, or an
// earlier attempt of the same one.
func (a Attempt) Before(b Attempt) bool {
	if a.Generation != b.Generation {
		return a.Generation < b.Generation
	}
	return a.Attempt < b.Attempt
}

// AttemptPrefix holds the objects one attempt stored:
// "<namespace>/<name>/<uid>/<generation>-<attempt>/".
func AttemptPrefix(namespace, name, uid string, a Attempt) string {
	return ExtractionPrefix(namespace, name, uid) + a.String() + "/"
}

// AttemptKey is the key of one file of one attempt.
func AttemptKey(namespace, name, uid string, a Attempt, file string) string {
	return AttemptPrefix(namespace, name, uid, a) + file
}

// ParseAttemptKey reads the attempt that stored key, a key under the
// extraction prefix (ExtractionPrefix). ok is false for a key that is not
// under it or that the layout did not make: nobody can tell whose it is, so
// nothing should delete it on that ground.
func ParseAttemptKey(extractionPrefix, key string) (a Attempt, file string, ok bool) {
	rest, found := strings.CutPrefix(key, extractionPrefix)
	if !found {
		return Attempt{}, "", false
	}
	seg, file, found := strings.Cut(rest, "/")
	if !found || file == "" || strings.Contains(file, "/") {
		return Attempt{}, "", false
	}
	gen, att, found := strings.Cut(seg, "-")
	if !found {
		return Attempt{}, "", false
	}
	g, err1 := strconv.ParseInt(gen, 10, 64)
	n, err2 := strconv.ParseInt(att, 10, 32)
	a = Attempt{Generation: g, Attempt: int32(n)}
	if err1 != nil || err2 != nil || g < 1 || n < 1 || a.String() != seg {
		return Attempt{}, "", false
	}
	return a, file, true
}

// LegacyFiles are the names that ytx stored directly under
// "<namespace>/<name>/" before the layout had the UID and the attempt in
// it. The list is closed: nothing writes there any more.
var LegacyFiles = []string{"info.json", "thumbnail.jpg", "audio.m4a", "audio.webm", "audio.mp3", "video.mp4"}

// OwnedLegacyKeys returns the keys of the earlier layout
// ("<namespace>/<name>/<file>", one per LegacyFiles) that belong to the
// extraction created at created: those stored at or after that moment.
// Names are unique at any one time, so an extraction of the same name that
// came before was deleted before this one was created, and everything it
// stored is older; a retained file of an earlier extraction is never
// returned. (creationTimestamp is cut to the second, which errs towards
// keeping a file.) An object whose time cannot be read is left alone.
func OwnedLegacyKeys(ctx context.Context, s Store, namespace, name string, created time.Time) ([]string, error) {
	var owned []string
	for _, f := range LegacyFiles {
		key := NamePrefix(namespace, name) + f
		info, err := s.Stat(ctx, key)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return owned, fmt.Errorf("reading the time of %s: %w", key, err)
		}
		if !info.Modified.Before(created) {
			owned = append(owned, key)
		}
	}
	return owned, nil
}
