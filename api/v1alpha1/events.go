package v1alpha1

// Reasons of the Events that ytx records on a YouTubeExtraction (`kubectl
// describe`, `kubectl get events`), besides the condition reasons above,
// which the events of failures, retries and hand-backs carry. Like those,
// they are stable: alerts and scripts may match on them.
const (
	// EventQueued: the manager published the current attempt's job.
	EventQueued = "Queued"
	// EventResent: a job no worker claimed within the manager's
	// --queued-timeout, and that cannot still arrive, was published again.
	EventResent = "Resent"
	// EventRunning: a worker claimed the current attempt.
	EventRunning = "Running"
	// EventResolverFallback: a resolver could not read the video and the
	// next one in the worker's --resolvers took over.
	EventResolverFallback = "ResolverFallback"
	// EventArtifactsDeleted: the resource was deleted with artifactPolicy
	// Delete, and its files were deleted.
	EventArtifactsDeleted = "ArtifactsDeleted"
	// EventArtifactsRetained: the resource was deleted with artifactPolicy
	// Retain; its files stay.
	EventArtifactsRetained = "ArtifactsRetained"
	// EventArtifactsNotDeleted: deleting the files failed for longer than
	// the manager's --artifact-cleanup-timeout; the resource went away
	// and the files the event names stayed.
	EventArtifactsNotDeleted = "ArtifactsNotDeleted"
	// EventInvalidTemplate: a playlist's template makes an extraction the
	// API server refuses (a label value, say); the event names the video
	// and the error.
	EventInvalidTemplate = "InvalidTemplate"
)
