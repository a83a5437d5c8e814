package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
)

// Writes. The controller reads trimmed copies (cache.go), so it never
// updates a whole object: that would wipe on the server what its copy
// lacks. Each write is a JSON merge patch of what this reconcile changed
// since the copy it read (or last wrote), carrying that copy's
// resourceVersion, so that it loses against any write made meanwhile, as
// an update did. A worker's heartbeat that lands first makes a Timeout
// lose; a claim that lands first makes a Queued write lose.

// bases remembers, for each object a reconcile works on, the copy the
// server last showed: what its next write is computed against. A
// reconcile tracks the object it read and untracks it when it returns.
type bases struct {
	mu sync.Mutex
	m  map[*v1alpha1.YouTubeExtraction]*v1alpha1.YouTubeExtraction
}

func (b *bases) track(x *v1alpha1.YouTubeExtraction) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[*v1alpha1.YouTubeExtraction]*v1alpha1.YouTubeExtraction{}
	}
	b.m[x] = x.DeepCopy()
}

func (b *bases) untrack(x *v1alpha1.YouTubeExtraction) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, x)
}

func (b *bases) of(x *v1alpha1.YouTubeExtraction) (*v1alpha1.YouTubeExtraction, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	base, ok := b.m[x]
	if !ok {
		// A programming error: writing an object no reconcile read.
		return nil, fmt.Errorf("controllers: %s/%s is written without the copy it was read as", x.Namespace, x.Name)
	}
	return base, nil
}

// writeStatus patches x's status with what changed since it was read.
func (r *Reconciler) writeStatus(ctx context.Context, x *v1alpha1.YouTubeExtraction) error {
	base, err := r.bases.of(x)
	if err != nil {
		return err
	}
	patch, err := statusPatch(base, x)
	if err != nil {
		return err
	}
	if err := r.client.Status().Patch(ctx, x, patch); err != nil {
		return err
	}
	r.bases.track(x)
	return nil
}

// writeMeta patches x's metadata (its finalizers) with what changed since
// it was read.
func (r *Reconciler) writeMeta(ctx context.Context, x *v1alpha1.YouTubeExtraction) error {
	base, err := r.bases.of(x)
	if err != nil {
		return err
	}
	if err := r.client.Patch(ctx, x, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	r.bases.track(x)
	return nil
}

// statusPatch is the merge patch from base to x. When x starts a new
// generation its status starts empty; but the fields the cache dropped are
// absent from both copies, and so from a diff, and would stay on the
// server as the earlier generation's. A new generation's patch therefore
// carries the whole status, with an explicit null for every field it does
// not set, and base's resourceVersion, as MergeFromWithOptimisticLock's
// does.
func statusPatch(base, x *v1alpha1.YouTubeExtraction) (client.Patch, error) {
	if x.Status.ObservedGeneration == base.Status.ObservedGeneration {
		return client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}), nil
	}
	whole, err := wholeStatus(x.Status)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": base.ResourceVersion},
		"status":   whole,
	})
	if err != nil {
		return nil, err
	}
	return client.RawPatch(types.MergePatchType, data), nil
}

// wholeStatus is s as a merge patch that replaces a status whole: s's
// fields, and null for each field s leaves empty.
func wholeStatus(s v1alpha1.YouTubeExtractionStatus) (map[string]any, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	t := reflect.TypeFor[v1alpha1.YouTubeExtractionStatus]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if _, set := m[name]; !set && name != "" && name != "-" {
			m[name] = nil
		}
	}
	return m, nil
}
