package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types of a playlist.
const (
	// ConditionSynced is True when the last listing was read and every
	// video it selected has its extraction.
	ConditionSynced = "Synced"
	// ConditionPlaylistFailed is True when the playlist cannot be read
	// (private, removed, an invalid schedule or match): ytx stops until
	// the spec changes. It is the type "Failed", as on an extraction.
	ConditionPlaylistFailed = ConditionFailed
)

// Reason codes of a playlist's conditions. Stable, like the extraction's.
const (
	// ReasonPlaylistUnavailable: YouTube says the playlist or channel is
	// private, removed or does not exist.
	ReasonPlaylistUnavailable = "PlaylistUnavailable"
	// ReasonListingFailed: reading the listing failed again and again
	// (network, YouTube's errors); the next sync tries again.
	ReasonListingFailed = "ListingFailed"
	// ReasonInvalidSchedule: spec.schedule is not a cron expression.
	ReasonInvalidSchedule = "InvalidSchedule"
	// ReasonInvalidMatch: spec.match is not a regular expression.
	ReasonInvalidMatch = "InvalidMatch"
	// ReasonInvalidPublishedAfter: spec.publishedAfter is not a day of the
	// calendar (2026-02-30), which admission cannot always tell.
	ReasonInvalidPublishedAfter = "InvalidPublishedAfter"
	// ReasonListing: a listing job is out; ReasonSynced: the last one
	// is done.
	ReasonListing = "Listing"
	ReasonSynced  = "Synced"
)

// YouTubePlaylistSpec says which playlist or channel to follow and what to
// take from each of its videos.
type YouTubePlaylistSpec struct {
	// url is a playlist (youtube.com/playlist?list=ID, or a watch link with
	// a list parameter) or a channel (youtube.com/channel/UC…, /@handle,
	// /c/NAME or /user/NAME, optionally followed by /videos, /shorts or
	// /streams). A channel means its uploads (or the tab named).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="!self.matches('[[:cntrl:][:space:]]') && [self.split('#', 2)[0]].all(f, [f.matches('^[A-Za-z][A-Za-z0-9+.-]*:') ? f : 'https://' + f].all(abs, [abs.split('?', 2)[0]].all(pre, [abs.contains('?') ? abs.split('?', 2)[1] : ''].all(qs, [pre.split('/')].all(p, size(p) >= 4 && p[1] == '' && [p[0]].all(scheme, [p[2]].all(authority, scheme.lowerAscii() in ['http:', 'https:'] && [authority.lowerAscii()].all(host, host in ['youtube.com', 'www.youtube.com', 'm.youtube.com', 'music.youtube.com'] && [pre.substring(size(scheme) + 2 + size(authority))].all(path, [qs.split('&').filter(x, x == 'list' || x.startsWith('list='))].all(ls, isURL(abs) && url(abs.lowerAscii()).getHostname() == host && [url(abs).getQuery()].all(q, path in ['/playlist', '/watch'] ? [size(ls) == 1 ? ls[0] : ''].all(l, l.startsWith('list=') && [l.substring(5)].all(id, id.matches('^[A-Za-z0-9_-]{2,64}$') && !id.startsWith('RD') && !(id in ['WL', 'LL', 'LM']) && 'list' in q && q['list'] == [id])) : size(ls) == 0 && !('list' in q) && path.matches('^/(channel/UC[A-Za-z0-9_-]{22}|@[A-Za-z0-9._-]{3,30}|(c|user)/[A-Za-z0-9_-]{1,100})(/(videos|featured|shorts|streams))?/?$'))))))))))))",message="spec.url must link to a YouTube playlist or channel, such as https://www.youtube.com/playlist?list=LIST_ID, https://www.youtube.com/@HANDLE or https://www.youtube.com/channel/CHANNEL_ID, optionally followed by /videos, /shorts or /streams; mixes (list=RD...) never end and Watch later and Liked videos need a login, so they cannot be listed; a link to one video belongs in a YouTubeExtraction"
	URL string `json:"url"`

	// template is what each video's YouTubeExtraction gets: its spec (all
	// but url) and labels and annotations.
	// +optional
	Template ExtractionTemplate `json:"template,omitempty"`

	// schedule, in cron syntax as a CronJob's ("0 6 * * *", "@daily";
	// CRON_TZ=Europe/Paris may lead), reads the playlist again at each
	// time. Without it the playlist is read once, and again at each change
	// of the spec.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Schedule string `json:"schedule,omitempty"`

	// suspend, when true, stops new syncs; extractions already made go on.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// maxVideos takes only the first N videos that pass the filters: a
	// channel's newest N, a playlist's first N in its own order.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxVideos *int32 `json:"maxVideos,omitempty"`

	// publishedAfter takes only videos published on or after this day
	// (UTC): YYYY-MM-DD, YYYYMMDD (as yt-dlp's --dateafter), or an RFC 3339
	// time, of which the day in UTC counts. Listings often carry no dates:
	// then each candidate video's page is read once to learn its date, one
	// request per video.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{4}-?(0[1-9]|1[0-2])-?(0[1-9]|[12][0-9]|3[01])$') && (self.size() == 8 || self.size() == 10 && self.substring(4, 5) == '-' && self.substring(7, 8) == '-') || self.matches('^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$')",message="spec.publishedAfter must be a day: YYYY-MM-DD (2024-06-01), YYYYMMDD as yt-dlp's --dateafter, or an RFC 3339 time (2024-06-01T00:00:00Z), of which the day in UTC counts"
	PublishedAfter string `json:"publishedAfter,omitempty"`

	// match takes only videos whose title matches this regular expression
	// (Go's RE2 syntax; (?i) for any letter case), like yt-dlp's
	// --match-title.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Match string `json:"match,omitempty"`

	// includeLive takes live streams and premieres (live now, or not yet
	// started) too. They are skipped by default: they have no file yet.
	// +optional
	IncludeLive bool `json:"includeLive,omitempty"`
}

// ExtractionTemplate is the part of each child YouTubeExtraction that the
// playlist decides.
type ExtractionTemplate struct {
	// metadata holds labels and annotations for each extraction.
	// +optional
	Metadata TemplateMetadata `json:"metadata,omitempty"`
	// spec is each extraction's spec, without url.
	// +optional
	Spec ExtractionTemplateSpec `json:"spec,omitempty"`
}

// TemplateMetadata is the metadata a template may set.
type TemplateMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ExtractionTemplateSpec is YouTubeExtractionSpec without url: the playlist
// fills in each video's link. A test holds the two field lists together.
type ExtractionTemplateSpec struct {
	// audio, when present, extracts the audio track as a file.
	// +optional
	Audio *AudioSpec `json:"audio,omitempty"`
	// video, when present, extracts the video (with its audio) as one MP4 file.
	// +optional
	Video *VideoSpec `json:"video,omitempty"`
	// thumbnail, when true, stores the largest thumbnail as a file.
	// +optional
	Thumbnail bool `json:"thumbnail,omitempty"`
	// retry bounds how often a transient failure is retried.
	// +optional
	Retry *RetrySpec `json:"retry,omitempty"`
	// ttlSecondsAfterFinished deletes each extraction this many seconds
	// after it finished. Unset, the playlist's children get
	// DefaultChildTTLSeconds (one day): the playlist's archive remembers
	// them, so that they are not made again, and etcd does not fill up
	// with thousands of finished children.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`
	// artifactPolicy says what happens to each extraction's files when it is
	// deleted, and to the playlist's archive when the playlist is.
	// +optional
	// +kubebuilder:default=Delete
	ArtifactPolicy ArtifactPolicy `json:"artifactPolicy,omitempty"`
}

// DefaultChildTTLSeconds is a child's ttlSecondsAfterFinished when the
// template sets none: a day to look at it, then the archive keeps it done.
const DefaultChildTTLSeconds = 86400

// ExtractionSpec is the spec of the child for the video at url; the
// playlist then sets spec.playlist to itself.
func (t ExtractionTemplateSpec) ExtractionSpec(url string) YouTubeExtractionSpec {
	ttl := t.TTLSecondsAfterFinished
	if ttl == nil {
		d := int32(DefaultChildTTLSeconds)
		ttl = &d
	}
	return YouTubeExtractionSpec{
		URL: url, Audio: t.Audio, Video: t.Video, Thumbnail: t.Thumbnail,
		Retry: t.Retry, TTLSecondsAfterFinished: ttl, ArtifactPolicy: t.ArtifactPolicy,
	}
}

// ChildCounts counts a playlist's extractions that exist, by phase.
type ChildCounts struct {
	// pending counts Pending and Queued extractions.
	Pending   int32 `json:"pending,omitempty"`
	Running   int32 `json:"running,omitempty"`
	Succeeded int32 `json:"succeeded,omitempty"`
	Failed    int32 `json:"failed,omitempty"`
}

// ListingResult is what a worker wrote after reading the playlist.
type ListingResult struct {
	// sync is the number of the sync that asked for it.
	Sync int64 `json:"sync"`
	// videos is how many entries the listing holds.
	Videos int32 `json:"videos,omitempty"`
	// truncated: the playlist has more entries than the worker's cap on
	// one listing; the first ones were kept.
	Truncated bool `json:"truncated,omitempty"`
	// reason, when the listing failed, is its code (PlaylistUnavailable,
	// ListingFailed, RateLimited, ...); message says more. A listing that
	// did not fail may have a message too: why it is empty, for one.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// retryable: a later try may succeed.
	Retryable bool `json:"retryable,omitempty"`
	// resolver read the listing; worker is who ran the job.
	Resolver string      `json:"resolver,omitempty"`
	Worker   string      `json:"worker,omitempty"`
	Time     metav1.Time `json:"time"`
}

// YouTubePlaylistStatus is written by the manager and, for listings, the
// workers.
type YouTubePlaylistStatus struct {
	// observedGeneration is the spec generation that this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// title and channel are the playlist's, as the last listing read them.
	// +optional
	Title string `json:"title,omitempty"`
	// +optional
	Channel string `json:"channel,omitempty"`
	// videos is how many entries the last listing had. The listing itself
	// is in the storage, beside the archive.
	// +optional
	Videos int32 `json:"videos,omitempty"`
	// selected is how many of them passed the filters last time.
	// +optional
	Selected int32 `json:"selected,omitempty"`
	// archived is how many video IDs the playlist's archive holds: done
	// (succeeded, failed for good, or deleted by hand) and never made again.
	// +optional
	Archived int32 `json:"archived,omitempty"`
	// archive is where the download archive is (yt-dlp's
	// --download-archive format).
	// +optional
	Archive string `json:"archive,omitempty"`
	// children counts the playlist's extractions that exist now, by phase.
	// +optional
	Children ChildCounts `json:"children,omitempty"`
	// sync numbers the listings asked for, from 1; syncRequestTime is when
	// the current one was asked for (published).
	// +optional
	Sync int64 `json:"sync,omitempty"`
	// +optional
	SyncRequestTime *metav1.Time `json:"syncRequestTime,omitempty"`
	// syncAttempts counts the tries of the current sync.
	// +optional
	SyncAttempts int32 `json:"syncAttempts,omitempty"`
	// listing is the worker's answer to the current or the last sync.
	// +optional
	Listing *ListingResult `json:"listing,omitempty"`
	// syncedSync is the last sync whose children were all made.
	// +optional
	SyncedSync int64 `json:"syncedSync,omitempty"`
	// lastSyncTime is when the last sync's children were all made;
	// nextSyncTime is when the schedule reads the playlist again.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`
	// +optional
	NextSyncTime *metav1.Time `json:"nextSyncTime,omitempty"`
	// conditions are Synced and Failed.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// YouTubePlaylist follows a YouTube playlist or channel and makes a
// YouTubeExtraction of each of its videos, as a CronJob makes Jobs.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=playlist;playlists;ytpl,categories=ytx
// +kubebuilder:printcolumn:name="Title",type=string,JSONPath=`.status.title`
// +kubebuilder:printcolumn:name="Videos",type=integer,JSONPath=`.status.videos`
// +kubebuilder:printcolumn:name="Succeeded",type=integer,JSONPath=`.status.children.succeeded`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.children.failed`
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSyncTime`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Failed")].reason`,priority=1
// +kubebuilder:printcolumn:name="Next Sync",type=date,JSONPath=`.status.nextSyncTime`,priority=1
// +kubebuilder:printcolumn:name="Archived",type=integer,JSONPath=`.status.archived`,priority=1
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type YouTubePlaylist struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec YouTubePlaylistSpec `json:"spec"`
	// +optional
	Status YouTubePlaylistStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// YouTubePlaylistList is a list of YouTubePlaylists.
type YouTubePlaylistList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []YouTubePlaylist `json:"items"`
}
