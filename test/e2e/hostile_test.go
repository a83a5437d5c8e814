package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/rand"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/download"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/internal/youtube/linktest"
)

// startInternalService is an address inside the cluster that the worker
// can reach (fake.Internal).
func startInternalService(t *testing.T) *fake.Internal {
	t.Helper()
	l, err := fake.ListenInternal()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// checkUntouched fails the test if anything connected to the service.
func checkUntouched(t *testing.T, s *fake.Internal) {
	t.Helper()
	time.Sleep(50 * time.Millisecond) // let the accept loop count a late one
	if n := s.Conns(); n != 0 {
		t.Errorf("the internal address %s saw %d connections", s.Addr, n)
	}
}

// A manifest names a link; admission refuses every link that is not one
// YouTube video, however it tries to name another host or a second video.
// (config's tests run the same table through the CRD's rule in process,
// and internal/youtube's through the worker's parser.)
func TestAdmissionRefusesLinksAimedElsewhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	internal := startInternalService(t)
	links := append([]string{
		"http://" + internal.Addr + "/watch?v=dQw4w9WgXcQ",
		"https://" + internal.Addr + "/embed/dQw4w9WgXcQ",
	}, linktest.Hostile...)
	links = append(links, linktest.Invalid...)
	ctx := e.ctx(time.Minute)
	for i, link := range links {
		err := k8s.Create(ctx, manifest(e.ns, fmt.Sprintf("aimed-%d", i), map[string]any{"url": link}))
		switch {
		case err == nil:
			t.Errorf("%q: accepted, want refused", link)
		case !apierrors.IsInvalid(err):
			t.Errorf("%q: %v, want an Invalid error", link, err)
		case !strings.Contains(err.Error(), "spec.url"):
			t.Errorf("%q: the error does not name spec.url: %v", link, err)
		}
	}
	checkUntouched(t, internal)
}

// What a valid link carries besides its video ID (a query, a fragment) is
// never fetched: the worker reads the ID only.
func TestOnlyTheVideoIDOfALinkIsUsed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	internal := startInternalService(t)
	e.startWorker(workerSetup{youtube: youtube.HTTPOptions{DialContext: youTube.ClusterDial(internal)}})
	v := addClipVideo(t, "Links with baggage")
	links := map[string]string{
		"next":     "https://www.youtube.com/watch?v=" + v.ID + "&next=http://" + internal.Addr + "/latest/meta-data/",
		"fragment": "https://www.youtube.com/watch?v=" + v.ID + "#@" + internal.Addr,
		"short":    "https://youtu.be/" + v.ID + "?redirect=https://metadata.evil.example/",
	}
	for name, link := range links {
		e.create(name, link)
	}
	for name := range links {
		if x := e.waitPhase(name, v1alpha1.PhaseSucceeded, 60*time.Second); x.Status.VideoID != v.ID {
			t.Errorf("%s: videoID %q, want %q", name, x.Status.VideoID, v.ID)
		}
	}
	checkUntouched(t, internal)
}

// YouTube's answers are untrusted: a forged one that names an internal
// address for a stream or a thumbnail, or a redirect there, fails the
// extraction with a reason and a message a person can act on, and nothing
// connects to that address.
func TestForgedAnswersReachNothingButYouTube(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	internal := startInternalService(t)
	e.startWorker(workerSetup{
		youtube:  youtube.HTTPOptions{DialContext: youTube.ClusterDial(internal)},
		download: download.Options{Backoff: fastBackoff},
	})
	const secret = "S3CRETSIG"
	forgedStreams := func(target string) func(*fake.Video) {
		return func(v *fake.Video) {
			for i := range v.Formats {
				v.Formats[i].URL = target + "/videoplayback?expire=1999999999&id=" + v.ID + "&itag=" + fmt.Sprint(v.Formats[i].Itag) + "&sig=" + secret
			}
		}
	}
	audio := func(x *v1alpha1.YouTubeExtraction) { x.Spec.Audio = &v1alpha1.AudioSpec{Format: v1alpha1.AudioM4A} }
	thumbnail := func(x *v1alpha1.YouTubeExtraction) { x.Spec.Thumbnail = true }
	cases := []struct {
		name   string
		forge  func(*fake.Video)
		fault  func(id string) fake.Fault
		spec   func(*v1alpha1.YouTubeExtraction)
		target string // what the message must name
	}{
		{name: "stream-ip", forge: forgedStreams("https://" + internal.Addr), spec: audio, target: "https://" + internal.Addr},
		{name: "stream-http", forge: forgedStreams("http://" + internal.Addr), spec: audio, target: "http://" + internal.Addr},
		{name: "stream-dns", forge: forgedStreams("https://metadata.evil.example"), spec: audio, target: "https://metadata.evil.example"},
		{name: "thumbnail", spec: thumbnail, target: "https://" + internal.Addr, forge: func(v *fake.Video) {
			for i := range v.Thumbnails {
				v.Thumbnails[i].URL = "https://" + internal.Addr + "/latest/meta-data/iam/security-credentials/?sig=" + secret
			}
		}},
		{name: "redirect", spec: audio, target: "http://" + internal.Addr, fault: func(id string) fake.Fault {
			return fake.Fault{Kind: fake.KindMedia, VideoID: id, RedirectTo: "http://" + internal.Addr + "/latest/meta-data/?sig=" + secret, Times: fake.Forever}
		}},
	}
	for _, c := range cases {
		v, err := fake.ClipVideo("f0rged"+rand.String(5), "Forged "+c.name, clips)
		if err != nil {
			t.Fatal(err)
		}
		if c.forge != nil {
			c.forge(&v)
		}
		if err := youTube.AddVideo(v); err != nil {
			t.Fatal(err)
		}
		if c.fault != nil {
			youTube.Inject(c.fault(v.ID))
		}
		e.create(c.name, watchURL(v.ID), c.spec)
	}
	// A forged thumbnail that is only wanted as album art costs the art,
	// not the audio (the worker logs why, without the URL's query).
	art, err := fake.ClipVideo("f0rged"+rand.String(5), "Forged album art", clips)
	if err != nil {
		t.Fatal(err)
	}
	for i := range art.Thumbnails {
		art.Thumbnails[i].URL = "https://" + internal.Addr + "/latest/meta-data/?sig=" + secret
	}
	if err := youTube.AddVideo(art); err != nil {
		t.Fatal(err)
	}
	e.create("album-art", watchURL(art.ID), audio)

	for _, c := range cases {
		x := e.waitPhase(c.name, v1alpha1.PhaseFailed, 60*time.Second)
		f, cond := x.Status.LastFailure, failedCondition(x)
		if f == nil || f.Reason != v1alpha1.ReasonDownloadFailed || cond == nil || cond.Reason != v1alpha1.ReasonDownloadFailed {
			t.Errorf("%s: want Failed with DownloadFailed: %s", c.name, describe(x))
			continue
		}
		if x.Status.Attempts != 1 {
			t.Errorf("%s: %d attempts; a refused host is not retried", c.name, x.Status.Attempts)
		}
		for _, want := range []string{c.target, "not one of YouTube's hosts", "did not connect"} {
			if !strings.Contains(f.Message, want) {
				t.Errorf("%s: message %q does not say %q", c.name, f.Message, want)
			}
		}
		if c.name == "redirect" && !strings.Contains(f.Message, "a redirect from rr3---sn-fake.googlevideo.com") {
			t.Errorf("%s: message %q does not say a redirect led there", c.name, f.Message)
		}
		for _, leak := range []string{secret, "meta-data", "videoplayback"} {
			if strings.Contains(f.Message, leak) || strings.Contains(cond.Message, leak) {
				t.Errorf("%s: the status shows %q: %s", c.name, leak, f.Message)
			}
		}
	}
	x := e.waitPhase("album-art", v1alpha1.PhaseSucceeded, 60*time.Second)
	if a := e.fetch(x)[v1alpha1.ArtifactAudio]; a.probe == nil || hasCover(a.probe) {
		t.Errorf("album-art: want audio without a cover, got %+v", a.Artifact)
	}
	checkUntouched(t, internal)
}
