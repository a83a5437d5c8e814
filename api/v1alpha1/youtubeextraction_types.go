package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Phase is the coarse state of an extraction, shown by `kubectl get`.
// +kubebuilder:validation:Enum=Pending;Queued;Running;Succeeded;Failed
type Phase string

const (
	// PhasePending: accepted, waiting to be published (or to be retried after a
	// transient failure; see status.lastFailure).
	PhasePending Phase = "Pending"
	// PhaseQueued: a job for the current attempt is on the queue.
	PhaseQueued Phase = "Queued"
	// PhaseRunning: a worker has claimed the current attempt.
	PhaseRunning Phase = "Running"
	// PhaseSucceeded: everything asked for is in status.
	PhaseSucceeded Phase = "Succeeded"
	// PhaseFailed: the extraction failed for good; the Failed condition says why.
	PhaseFailed Phase = "Failed"
)

// Finished reports whether the phase is terminal for the observed generation.
func (p Phase) Finished() bool { return p == PhaseSucceeded || p == PhaseFailed }

// Condition types. Each is a metav1.Condition so that
// `kubectl wait --for=condition=Complete` works.
const (
	ConditionQueued   = "Queued"
	ConditionRunning  = "Running"
	ConditionComplete = "Complete"
	ConditionFailed   = "Failed"
)

// Reason codes on conditions and status.lastFailure. They are stable: scripts
// and alerts may match on them.
const (
	ReasonInvalidURL        = "InvalidURL"
	ReasonVideoUnavailable  = "VideoUnavailable"
	ReasonLoginRequired     = "LoginRequired"
	ReasonForbidden         = "Forbidden"
	ReasonDownloadFailed    = "DownloadFailed"
	ReasonStorageFailed     = "StorageFailed"
	ReasonTimeout           = "Timeout"
	ReasonAttemptsExhausted = "AttemptsExhausted"
	// ReasonFormatUnavailable: the video has no stream that the spec asks
	// for (no audio of that kind, no video at or under maxHeight).
	ReasonFormatUnavailable = "FormatUnavailable"
	// ReasonArtifactTooLarge: a file would exceed the worker's
	// --max-artifact-bytes.
	ReasonArtifactTooLarge = "ArtifactTooLarge"
	// ReasonMediaFailed: ffmpeg could not transcode, mux or tag the streams.
	ReasonMediaFailed = "MediaFailed"
	// ReasonScratchFailed: the worker's own disk (--scratch-dir) failed:
	// full, read-only, or gone. Retried, as another worker may have room.
	ReasonScratchFailed = "ScratchFailed"
	// ReasonRateLimited: YouTube asked the worker to prove it is not a bot
	// ("Sign in to confirm you're not a bot"), or answered HTTP 429. It is
	// retried after a longer backoff and does not spend
	// spec.retry.maxAttempts; the manager's --rate-limited-timeout bounds
	// it in time.
	ReasonRateLimited = "RateLimited"

	// Reasons for progress, not failure.
	ReasonPublishFailed = "PublishFailed"
	ReasonPublished     = "Published"
	ReasonClaimed       = "Claimed"
	ReasonRetrying      = "Retrying"
	ReasonHandedBack    = "HandedBack"
	ReasonSucceeded     = "Succeeded"
	// ReasonNamespaceBusy: the namespace has as many extractions Queued or
	// Running as the manager's --max-in-flight-per-namespace allows; this
	// one stays Pending until a slot frees, oldest first.
	ReasonNamespaceBusy = "NamespaceBusy"
)

// AudioFormat names the container and codec of the extracted audio.
// +kubebuilder:validation:Enum=m4a;opus;mp3
type AudioFormat string

const (
	// AudioM4A is YouTube's AAC stream, stored as is.
	AudioM4A AudioFormat = "m4a"
	// AudioOpus is YouTube's Opus stream in WebM, stored as is.
	AudioOpus AudioFormat = "opus"
	// AudioMP3 is the best audio stream transcoded to MP3 by ffmpeg.
	AudioMP3 AudioFormat = "mp3"
)

// ArtifactPolicy says what happens to stored files when the resource is deleted.
// +kubebuilder:validation:Enum=Delete;Retain
type ArtifactPolicy string

const (
	ArtifactPolicyDelete ArtifactPolicy = "Delete"
	ArtifactPolicyRetain ArtifactPolicy = "Retain"
)

// YouTubeExtractionSpec says which video to read and what to take from it.
// Metadata is always extracted; audio, video and thumbnail only when asked for.
// +kubebuilder:validation:XValidation:rule="has(self.playlist) == has(oldSelf.playlist) && (!has(self.playlist) || self.playlist == oldSelf.playlist)",message="spec.playlist is set when a playlist makes the extraction and never changes: it says where the files are"
type YouTubeExtractionSpec struct {
	// url is a link to one YouTube video: youtube.com/watch?v=ID, youtu.be/ID,
	// youtube.com/shorts/ID, /embed/ID, /live/ID or /v/ID, on the www., m. or
	// music. hosts, or youtube-nocookie.com/embed/ID. ID is the 11-character
	// video ID. A link without a scheme is read as https; the fragment and
	// query parameters other than v (t, list, si, ...) are ignored. A link
	// that names two videos (a v parameter that differs from the path's ID),
	// or has a user, a port or escapes in its host, is refused, and so are
	// playlist and channel links.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="!self.matches('[[:cntrl:][:space:]]') && [self.split('#', 2)[0]].all(f, [f.matches('^[A-Za-z][A-Za-z0-9+.-]*:') ? f : 'https://' + f].all(abs, [abs.split('?', 2)[0]].all(pre, [abs.contains('?') ? abs.split('?', 2)[1] : ''].all(qs, [pre.split('/')].all(p, size(p) >= 4 && p[1] == '' && [p[0]].all(scheme, [p[2]].all(authority, [p[3]].all(s3, [size(p) > 4 ? p[4] : ''].all(s4, [qs.split('&').filter(x, x == 'v' || x.startsWith('v='))].all(vs, [size(vs) == 1 ? vs[0] : ''].all(v, [authority.lowerAscii()].all(host, [host == 'youtu.be' && (size(p) == 4 || size(p) == 5 && s4 == '') ? s3 : (host in ['youtube.com', 'www.youtube.com', 'm.youtube.com', 'music.youtube.com'] && s3 in ['shorts', 'embed', 'live', 'v'] || host in ['youtube-nocookie.com', 'www.youtube-nocookie.com'] && s3 == 'embed') && (size(p) == 5 || size(p) == 6 && p[5] == '') ? s4 : host in ['youtube.com', 'www.youtube.com', 'm.youtube.com', 'music.youtube.com'] && size(p) == 4 && s3 == 'watch' && v.startsWith('v=') ? v.substring(2) : ''].all(id, id.matches('^[A-Za-z0-9_-]{11}$') && scheme.lowerAscii() in ['http:', 'https:'] && (size(vs) == 0 || v == 'v=' + id) && isURL(abs) && url(abs.lowerAscii()).getHostname() == host && (!('v' in url(abs).getQuery()) || url(abs).getQuery()['v'] == [id]))))))))))))))",message="spec.url must link to one YouTube video, such as https://www.youtube.com/watch?v=VIDEO_ID or https://youtu.be/VIDEO_ID, where VIDEO_ID is 11 characters; playlist and channel links are not supported"
	URL string `json:"url"`

	// audio, when present, extracts the audio track as a file.
	// +optional
	Audio *AudioSpec `json:"audio,omitempty"`

	// video, when present, extracts the video (with its audio) as one MP4 file.
	// +optional
	Video *VideoSpec `json:"video,omitempty"`

	// thumbnail, when true, stores the largest thumbnail as a file.
	// +optional
	Thumbnail bool `json:"thumbnail,omitempty"`

	// retry bounds how often a transient failure (network, 5xx, storage
	// briefly down) is retried. Permanent failures are never retried.
	// +optional
	Retry *RetrySpec `json:"retry,omitempty"`

	// ttlSecondsAfterFinished, when set, deletes the resource this many seconds
	// after it Succeeded or Failed, as for a Job.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// artifactPolicy says what happens to the stored files when the resource is
	// deleted: Delete removes them, Retain keeps them.
	// +optional
	// +kubebuilder:default=Delete
	ArtifactPolicy ArtifactPolicy `json:"artifactPolicy,omitempty"`

	// playlist is set by the YouTubePlaylist that made this extraction, and
	// never changes: the extraction's files are stored under the
	// playlist's, in <ns>/<playlist>/<playlist uid>/videos/<name>/<uid>/.
	// +optional
	Playlist *PlaylistRef `json:"playlist,omitempty"`
}

// PlaylistRef names the playlist an extraction belongs to.
type PlaylistRef struct {
	// name is the playlist's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
	// uid is the playlist's metadata.uid.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	UID string `json:"uid"`
}

// AudioSpec selects the audio file to produce.
type AudioSpec struct {
	// format is m4a (AAC, stored as is), opus (Opus in WebM, stored as is) or
	// mp3 (transcoded by ffmpeg).
	// +required
	Format AudioFormat `json:"format"`
}

// VideoSpec selects the video file to produce.
type VideoSpec struct {
	// maxHeight is the tallest rendition to take, in pixels (for example 360,
	// 720, 1080). The best video at or below it is muxed with the best audio.
	// +required
	// +kubebuilder:validation:Minimum=144
	// +kubebuilder:validation:Maximum=4320
	MaxHeight int32 `json:"maxHeight"`
}

// RetrySpec bounds retries of transient failures.
type RetrySpec struct {
	// maxAttempts is the number of attempts in all, the first included.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	MaxAttempts int32 `json:"maxAttempts,omitempty"`
}

// VideoMetadata is what YouTube says about the video.
type VideoMetadata struct {
	Title     string `json:"title,omitempty"`
	Author    string `json:"author,omitempty"`
	ChannelID string `json:"channelID,omitempty"`
	// durationSeconds is the length of the video.
	DurationSeconds int64 `json:"durationSeconds,omitempty"`
	ViewCount       int64 `json:"viewCount,omitempty"`
	// publishDate is the day the video was published, as YYYY-MM-DD.
	PublishDate  string `json:"publishDate,omitempty"`
	ThumbnailURL string `json:"thumbnailURL,omitempty"`
	// description is cut to its first 200 characters (runes), ending in "…"
	// when cut; the info artifact has it whole.
	Description string `json:"description,omitempty"`
}

// ArtifactKind names what a stored file holds.
// +kubebuilder:validation:Enum=audio;video;thumbnail;info
type ArtifactKind string

const (
	ArtifactAudio     ArtifactKind = "audio"
	ArtifactVideo     ArtifactKind = "video"
	ArtifactThumbnail ArtifactKind = "thumbnail"
	ArtifactInfo      ArtifactKind = "info"
)

// Artifact is one stored file.
type Artifact struct {
	// kind is what the file holds: audio, video, thumbnail or info (the
	// full metadata as JSON). It keys the list: one file of each kind.
	// +required
	Kind ArtifactKind `json:"kind"`
	// uri is where the file is, under the storage layout <ns>/<name>/<uid>/<generation>-<attempt>/: file:///var/lib/ytx/ns/name/UID/1-1/audio.m4a or s3://bucket/prefix/ns/name/UID/1-1/audio.m4a.
	URI       string `json:"uri"`
	MediaType string `json:"mediaType,omitempty"`
	SizeBytes int64  `json:"sizeBytes,omitempty"`
	// sha256 is the hex digest of the stored bytes.
	SHA256 string `json:"sha256,omitempty"`
}

// Progress counts bytes of the current attempt.
type Progress struct {
	BytesDone  int64 `json:"bytesDone,omitempty"`
	BytesTotal int64 `json:"bytesTotal,omitempty"`
	// percent is bytesDone of bytesTotal, 0 to 100.
	Percent int32 `json:"percent,omitempty"`
}

// AttemptFailure records how an attempt ended when it did not succeed.
type AttemptFailure struct {
	// attempt is the number of the attempt that failed.
	Attempt int32 `json:"attempt"`
	// reason is a stable code such as DownloadFailed or Timeout.
	Reason  string      `json:"reason"`
	Message string      `json:"message,omitempty"`
	Time    metav1.Time `json:"time"`
}

// YouTubeExtractionStatus is written by the controller and the workers.
type YouTubeExtractionStatus struct {
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// observedGeneration is the spec generation that this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// videoID is the 11-character ID read from spec.url.
	// +optional
	VideoID string `json:"videoID,omitempty"`
	// +optional
	Metadata *VideoMetadata `json:"metadata,omitempty"`
	// artifacts lists the stored files, at most one of each kind.
	// +optional
	// +listType=map
	// +listMapKey=kind
	Artifacts []Artifact `json:"artifacts,omitempty"`
	// resolver is what read the video and served the files: kkdai (in
	// the worker) or yt-dlp.
	// +optional
	Resolver string `json:"resolver,omitempty"`
	// +optional
	Progress *Progress `json:"progress,omitempty"`
	// attempts is the number of the current attempt, from 1.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// lastFailure is how the last unsuccessful attempt ended.
	// +optional
	LastFailure *AttemptFailure `json:"lastFailure,omitempty"`
	// rateLimitedAttempts counts the attempts of this generation that
	// ended RateLimited. They do not count against spec.retry.maxAttempts:
	// the manager's --rate-limited-timeout bounds them, from
	// rateLimitedSince.
	// +optional
	RateLimitedAttempts int32 `json:"rateLimitedAttempts,omitempty"`
	// rateLimitedSince is when the first attempt of this generation ended
	// RateLimited.
	// +optional
	RateLimitedSince *metav1.Time `json:"rateLimitedSince,omitempty"`
	// worker is the name of the worker running (or that ran) the current attempt.
	// +optional
	Worker string `json:"worker,omitempty"`
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// lastHeartbeatTime is when the worker last reported that it is alive.
	// +optional
	LastHeartbeatTime *metav1.Time `json:"lastHeartbeatTime,omitempty"`
	// conditions are Queued, Running, Complete and Failed.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// YouTubeExtraction pulls metadata, audio, video and thumbnail out of one
// YouTube video and records where they were stored.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=extraction;extractions,categories=ytx
// +kubebuilder:printcolumn:name="Video",type=string,JSONPath=`.status.videoID`
// +kubebuilder:printcolumn:name="Title",type=string,JSONPath=`.status.metadata.title`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Failed")].reason`,description="Why it failed: the reason of the Failed condition"
// +kubebuilder:printcolumn:name="Progress",type=integer,JSONPath=`.status.progress.percent`,description="Percent of bytes done"
// +kubebuilder:printcolumn:name="Attempts",type=integer,JSONPath=`.status.attempts`,priority=1
// +kubebuilder:printcolumn:name="Worker",type=string,JSONPath=`.status.worker`,priority=1
// +kubebuilder:printcolumn:name="Resolver",type=string,JSONPath=`.status.resolver`,priority=1
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type YouTubeExtraction struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec YouTubeExtractionSpec `json:"spec"`
	// +optional
	Status YouTubeExtractionStatus `json:"status,omitempty"`
}

// MaxAttempts is spec.retry.maxAttempts, or its default.
func (x *YouTubeExtraction) MaxAttempts() int32 {
	if x.Spec.Retry == nil || x.Spec.Retry.MaxAttempts < 1 {
		return DefaultMaxAttempts
	}
	return x.Spec.Retry.MaxAttempts
}

// DefaultMaxAttempts matches the CRD default of spec.retry.maxAttempts.
const DefaultMaxAttempts = 3

// +kubebuilder:object:root=true

// YouTubeExtractionList is a list of YouTubeExtractions.
type YouTubeExtractionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []YouTubeExtraction `json:"items"`
}
