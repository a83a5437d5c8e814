package workers

// The log messages and keys that tell what a worker did with a job. Tests
// outside this package read them (the fault suite counts claims, stores and
// ends in the workers' JSON logs), so they are constants shared with those
// tests: a change of wording changes both sides, and a reader never counts
// zero lines because the text moved on.
const (
	// LogClaimed: the worker claimed the attempt (KeyJob).
	LogClaimed = "claimed job"
	// LogDropped: the message leads to no work, a duplicate or stale one
	// (KeyJob, KeyWhy). Logged at debug level.
	LogDropped = "dropping job"
	// LogStored: a file was stored (KeyJob, KeyKey, KeyBytes, KeySHA256).
	LogStored = "stored file"
	// LogEnded: the end of the attempt was written (KeyJob, KeyReason:
	// Succeeded, HandedBack or the failure's reason code).
	LogEnded = "job ended"
	// LogAbandoned: the attempt stopped being this worker's while it ran
	// (KeyJob, KeyWhy); nothing more is written for it.
	LogAbandoned = "abandoning job"
	// LogAbandonedAtEnd: the same, found out by the write that would have
	// ended the attempt (KeyJob, KeyWhy).
	LogAbandonedAtEnd = "abandoning job at the end"
	// LogRemovedOwn: a worker that lost its attempt removed what the
	// attempt had stored and the resource's status does not list (KeyJob,
	// KeyPrefix, KeyCount). A stale worker's late upload ends here.
	LogRemovedOwn = "removed the abandoned attempt's files"
)

// Keys of the values those messages carry.
const (
	// KeyJob is the job as job.Message.String writes it:
	// "ns/name (generation G, attempt A)".
	KeyJob    = "job"
	KeyKey    = "key"    // the storage key of a stored file
	KeyBytes  = "bytes"  // its size
	KeySHA256 = "sha256" // its SHA-256, hex, as status.artifacts has it
	KeyReason = "reason" // how the attempt ended
	KeyWhy    = "why"    // why a job was dropped or abandoned
	KeyPrefix = "prefix" // a storage prefix
	KeyCount  = "count"  // how many
)
