// Package playlist holds the rules of a YouTubePlaylist that the manager
// and the workers share: how a child extraction is named and labelled, which
// entries of a listing a playlist takes (Filter), and the download archive
// (Archive), the playlist's memory of the videos it is done with.
package playlist

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"

	"ytx.dev/ytx/internal/storage"
)

// Labels and annotations of a child extraction. Label values must be at
// most 63 characters that start and end with a letter or digit: about one
// video ID in sixteen starts or ends with '-' or '_', and a playlist's name
// may be up to 253 characters, so labels carry hashes (or the name when it
// fits) and annotations the raw values.
const (
	// LabelPlaylist is the playlist's name, or NameHash of it when the
	// name is not a valid label value: `kubectl get extractions -l
	// ytx.dev/playlist=NAME` lists a playlist's children.
	LabelPlaylist = "ytx.dev/playlist"
	// LabelPlaylistUID is the playlist's UID: a playlist deleted and made
	// again under the same name has other children.
	LabelPlaylistUID = "ytx.dev/playlist-uid"
	// LabelVideo is VideoHash of the video ID: `kubectl get extractions
	// -l ytx.dev/video=$(printf %s VIDEO_ID | sha256sum | cut -c1-16)`
	// lists a video's extractions across playlists.
	LabelVideo = "ytx.dev/video"
	// AnnotationVideoID and AnnotationPlaylist hold the raw values.
	AnnotationVideoID  = "ytx.dev/video-id"
	AnnotationPlaylist = "ytx.dev/playlist"
)

// Finalizer is the playlist's on each of its children: a child is not
// gone before the playlist has recorded it in its archive, so that a child
// deleted (by its TTL, or by hand) is never made again. On the playlist
// itself it deletes the children and, with artifactPolicy Delete, the
// playlist's own files.
const Finalizer = "ytx.dev/playlist"

// hashLen is the hex digits of SHA-256 kept: 64 bits, so that two of a
// channel's videos collide with odds of about one in 10^12.
const hashLen = 16

// VideoHash is the label value of a video ID: the first 16 hex digits of
// its SHA-256. Video IDs are case-sensitive; the hash keeps them apart
// where a lower-cased ID would not.
func VideoHash(id string) string { return hash(id) }

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:hashLen]
}

// PlaylistLabel is the value of LabelPlaylist for a playlist named name.
func PlaylistLabel(name string) string {
	if len(validation.IsValidLabelValue(name)) == 0 {
		return name
	}
	return hash(name)
}

// maxChildName keeps a child's name a valid label value too, as Jobs'
// names are, so tools that copy names into labels keep working.
const maxChildName = validation.LabelValueMaxLength

// ChildName is the name of the playlist's extraction of a video:
// "<playlist>-<VideoHash(id)>". The same playlist and video always give the
// same name, so two syncs, two workers or a retried job cannot create the
// child twice: the second create finds it exists. A playlist name too long
// for that keeps its first characters and a hash of the whole name, so two
// long names that share a beginning still give different children.
func ChildName(playlist, id string) string {
	suffix := "-" + VideoHash(id)
	if len(playlist)+len(suffix) <= maxChildName {
		return playlist + suffix
	}
	keep := maxChildName - len(suffix) - 1 - 8
	prefix := strings.TrimRight(playlist[:keep], "-.")
	return prefix + "-" + hash(playlist)[:8] + suffix
}

// Prefix holds the playlist's own objects: "<namespace>/<name>/<uid>/",
// the layout of an extraction's (internal/storage), so the UID keeps a
// playlist made again under the same name apart from one retained before.
// Its children's files are under their own names and UIDs.
func Prefix(namespace, name, uid string) string {
	return storage.ExtractionPrefix(namespace, name, uid)
}

// ArchiveKey is the key of the playlist's archive.
func ArchiveKey(namespace, name, uid string) string {
	return Prefix(namespace, name, uid) + ArchiveFile
}

// ListingKey is the key of the listing that sync read: one per sync, so a
// listing read for a later sync never replaces one the manager is reading.
func ListingKey(namespace, name, uid string, sync int64) string {
	return Prefix(namespace, name, uid) + ListingsDir + strconv.FormatInt(sync, 10) + ".json"
}

// ListingsDir holds the listings under the playlist's prefix.
const ListingsDir = "listings/"

// Parent is where x's files live in the storage layout: under its
// playlist when a playlist made it (spec.playlist, which admission keeps
// from changing), else nil.
func Parent(x *v1alpha1.YouTubeExtraction) *storage.Parent {
	if x.Spec.Playlist == nil {
		return nil
	}
	return &storage.Parent{Name: x.Spec.Playlist.Name, UID: x.Spec.Playlist.UID}
}

// ExtractionPrefix holds every file of x (storage.ExtractionPrefixIn).
func ExtractionPrefix(x *v1alpha1.YouTubeExtraction) string {
	return storage.ExtractionPrefixIn(Parent(x), x.Namespace, x.Name, string(x.UID))
}
