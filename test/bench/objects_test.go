package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/status"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
)

// extraction is a metadata-only extraction of video id: spec.url alone.
func extraction(ns, name, id string) *v1alpha1.YouTubeExtraction {
	return &v1alpha1.YouTubeExtraction{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1alpha1.YouTubeExtractionSpec{URL: "https://www.youtube.com/watch?v=" + id},
	}
}

// outcome is what a worker writes onto a metadata-only extraction of one
// video when it succeeds: status.metadata and the info.json artifact. The
// bound and the resync benchmark write it so that their objects weigh
// what ytx's weigh.
type outcome struct {
	videoID  string
	metadata v1alpha1.VideoMetadata
	info     v1alpha1.Artifact // URI left to fill
}

// outcomeOf reads video id from the fake YouTube as a worker does, and
// makes what the worker would record.
func outcomeOf(b *testing.B, yt *fake.Server, id string) outcome {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := youtube.NewHTTPClient(youtube.HTTPOptions{DialContext: yt.DialContext, RootCAs: yt.CertPool()})
	defer hc.CloseIdleConnections()
	v, err := youtube.NewClient(hc).Video(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := json.MarshalIndent(youtube.NewInfo(youtube.FromKKDAI(v)), "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	return outcome{
		videoID:  id,
		metadata: youtube.Metadata(youtube.FromKKDAI(v)),
		info: v1alpha1.Artifact{Kind: v1alpha1.ArtifactInfo, MediaType: "application/json",
			SizeBytes: int64(len(raw)), SHA256: hex.EncodeToString(sum[:])},
	}
}

// The status transitions of one successful attempt, in the order ytx
// writes them, made with the same internal/status helpers.

func queued(x *v1alpha1.YouTubeExtraction, o outcome, topic string) {
	status.StartGeneration(x, o.videoID)
	status.Queued(x, fmt.Sprintf("attempt %d queued on %s", x.Status.Attempts, topic))
}

func claimed(x *v1alpha1.YouTubeExtraction, worker string) {
	status.Claimed(x, worker, metav1.Now())
}

// succeeded returns the message it wrote, for the event.
func succeeded(x *v1alpha1.YouTubeExtraction, o outcome, storageURL string) string {
	md := o.metadata
	x.Status.Metadata = &md
	a := o.info
	a.URI = storageURL + "/" + path.Clean(storage.AttemptKey(x.Namespace, x.Name, string(x.UID), storage.Attempt{Generation: x.Generation, Attempt: x.Status.Attempts}, "info.json"))
	x.Status.Artifacts = []v1alpha1.Artifact{a}
	x.Status.Progress = &v1alpha1.Progress{}
	msg := fmt.Sprintf("extracted %q in 41ms", o.metadata.Title)
	status.Succeeded(x, msg, metav1.Now())
	return msg
}
