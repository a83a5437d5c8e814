package workers

import (
	"fmt"

	"k8s.io/apimachinery/pkg/types"

	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/storage"
)

// Writer is what a worker records with every object it stores
// (storage.PutOptions.Writer): the attempt it held, as the resource's UID,
// generation and attempt number, and its own name,
// "<uid>/<generation>/<attempt> <worker>". The stored bytes of two attempts
// may be identical; this tells them apart, so a file stored by anyone but
// the attempt that status names is visible in the store.
func Writer(uid types.UID, generation int64, attempt int32, worker string) string {
	return fmt.Sprintf("%s/%d/%d %s", uid, generation, attempt, worker)
}

// writer is Writer for this claim.
func (c *claim) writer() string {
	return Writer(c.msg.UID, c.msg.Generation, c.msg.Attempt, c.w.opts.Name)
}

// attempt is the attempt this claim holds, as the storage layout names it.
func (c *claim) attempt() storage.Attempt {
	return storage.Attempt{Generation: c.msg.Generation, Attempt: c.msg.Attempt}
}

// extractionPrefix holds every file of the claimed extraction.
func (c *claim) extractionPrefix() string {
	return storage.ExtractionPrefixIn(playlist.Parent(c.object()), c.msg.Namespace, c.msg.Name, string(c.msg.UID))
}

// attemptPrefix holds the files this claim's attempt stores, and nothing
// any other attempt stores: the fence that is a lock.
func (c *claim) attemptPrefix() string {
	return storage.AttemptPrefixIn(playlist.Parent(c.object()), c.msg.Namespace, c.msg.Name, string(c.msg.UID), c.attempt())
}
