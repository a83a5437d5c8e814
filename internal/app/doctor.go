package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	kkdai "github.com/kkdai/youtube/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/media"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/ytdlp"
)

// DoctorVideo is what `ytx doctor` reads when given no link: "Me at the
// zoo", YouTube's first video, public since 2005.
const DoctorVideo = "https://www.youtube.com/watch?v=jNQXAC9IVRw"

// doctorRange is how much media the doctor fetches: enough to know
// YouTube serves it.
const doctorRange = 64 << 10

// Check is one resolver's result in `ytx doctor`.
type Check struct {
	Resolver, Version string
	Metadata, Media   bool
	Took              time.Duration
	// Reason is the failure's reason code, "" when both worked; Detail
	// its message; Fix what to try.
	Reason, Detail, Fix string
}

// Doctor reads a video with each resolver of c, as a worker would (the same
// chain, proxies, cookies), and fetches a small range of its audio. Every
// resolver is tried on its own, the ones a default chain would leave out
// (yt-dlp not installed) included, so that the report says why.
func Doctor(ctx context.Context, c ResolverConfig, hc youtube.HTTPOptions, link string) ([]Check, error) {
	if link == "" {
		link = DoctorVideo
	}
	id, err := youtube.VideoID(link)
	if err != nil {
		return nil, err
	}
	if len(c.Resolvers) == 0 {
		c.Resolvers = []string{resolver.KKDAI, resolver.YTDLP}
	}
	res, err := NewResolvers(ctx, c, hc)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var out []Check
	for _, r := range res.Chain.Resolvers() {
		out = append(out, doctorOne(ctx, res, r, id))
	}
	return out, nil
}

func doctorOne(ctx context.Context, res *Resolvers, r resolver.Resolver, id string) (ch Check) {
	ch = Check{Resolver: r.Name(), Version: r.Version()}
	if ch.Version == "" {
		ch.Version = "-"
	}
	start := time.Now()
	defer func() { ch.Took = time.Since(start) }()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	proxy, err := res.Pacer.Start(ctx)
	if err != nil {
		return ch.failed(r, err)
	}
	dir, err := os.MkdirTemp("", "ytx-doctor-")
	if err != nil {
		return ch.failed(r, failure.Scratch("making a directory in", os.TempDir(), err))
	}
	defer os.RemoveAll(dir) //nolint:errcheck
	page, mediaClient := res.Clients.For(proxy)
	req := resolver.Request{VideoID: id, Proxy: proxy, HTTP: page, Media: mediaClient, Scratch: dir}
	if res.Cookies != nil {
		jar, _ := res.Cookies.Jar()
		withJar := *page
		withJar.Jar = jar
		req.HTTP, req.Cookies = &withJar, res.Cookies.Path()
	}
	v, err := r.Resolve(ctx, req)
	if err != nil {
		return ch.failed(r, err)
	}
	ch.Metadata = true
	f, err := media.AudioFor(v.Formats, media.FormatMP3)
	if err != nil {
		return ch.failed(r, err)
	}
	if err := fetchRange(ctx, r, req, v, f); err != nil {
		return ch.failed(r, err)
	}
	ch.Media = true
	return ch
}

// fetchRange asks for the first bytes of f as a download does.
func fetchRange(ctx context.Context, r resolver.Resolver, req resolver.Request, v *resolver.Video, f *resolver.Format) error {
	raw, header, err := r.MediaURL(ctx, req, v, f)
	if err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return youtube.Classify(err)
	}
	q := u.RawQuery
	if q != "" {
		q += "&"
	}
	u.RawQuery = q + fmt.Sprintf("range=0-%d", doctorRange-1)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return youtube.Classify(err)
	}
	for k := range header {
		hreq.Header.Set(k, header.Get(k))
	}
	resp, err := req.Media.Do(hreq)
	if err != nil {
		return youtube.Classify(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		return youtube.Classify(kkdai.ErrUnexpectedStatusCode(resp.StatusCode))
	}
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, doctorRange))
	if err != nil {
		return youtube.Classify(err)
	}
	if n == 0 {
		return failure.Retryable(v1alpha1.ReasonDownloadFailed, nil, "the media answer was empty")
	}
	return nil
}

// failed records err and what to try about it.
func (ch Check) failed(r resolver.Resolver, err error) Check {
	f, ok := failure.As(err)
	if !ok {
		f = youtube.Classify(err)
	}
	ch.Reason, ch.Detail = f.Reason, f.Message
	ch.Fix = fix(r.Name(), f)
	return ch
}

// fix is what a person can try about a failure of a resolver.
func fix(name string, f *failure.Error) string {
	switch {
	case errors.Is(f, resolver.ErrUnavailable):
		return "install yt-dlp " + ytdlp.MinVersion + " or newer (hack/install-yt-dlp.sh) or point --ytdlp at it"
	case f.Reason == v1alpha1.ReasonForbidden && name == resolver.KKDAI:
		return "YouTube refuses this kkdai client: put yt-dlp in --resolvers, or try another --kkdai-client"
	case f.Reason == v1alpha1.ReasonForbidden:
		return "update yt-dlp; give it a PO token (--ytdlp-extractor-args) or a signed-in account's cookies (--cookies-file)"
	case f.Reason == v1alpha1.ReasonRateLimited:
		return "wait; spread the workers over proxies (--proxy), or give them cookies (--cookies-file)"
	case f.Reason == v1alpha1.ReasonLoginRequired:
		return "give the workers a signed-in account's cookies (--cookies-file)"
	case f.Reason == v1alpha1.ReasonVideoUnavailable:
		return "try another video (ytx doctor URL)"
	case f.Reason == v1alpha1.ReasonFormatUnavailable:
		return "update the resolver; for yt-dlp, install a JavaScript runtime (deno)"
	case f.Reason == v1alpha1.ReasonTimeout, f.Reason == v1alpha1.ReasonDownloadFailed:
		return "check the network, HTTPS_PROXY/--proxy and SSL_CERT_FILE"
	}
	return "see the detail"
}

// Working reports whether some resolver read the video and its media.
func Working(checks []Check) bool {
	for _, c := range checks {
		if c.Metadata && c.Media {
			return true
		}
	}
	return false
}

// WriteChecks prints the doctor's table, then each failure's detail.
func WriteChecks(w io.Writer, checks []Check) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOLVER\tVERSION\tMETADATA\tMEDIA\tTIME\tREASON\tFIX")
	yes := map[bool]string{true: "ok", false: "FAIL"}
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Resolver, c.Version, yes[c.Metadata], yes[c.Media], c.Took.Round(10*time.Millisecond), orDash(c.Reason), orDash(c.Fix))
	}
	tw.Flush()
	for _, c := range checks {
		if c.Detail != "" {
			fmt.Fprintf(w, "\n%s: %s\n", c.Resolver, c.Detail)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Report is where `ytx doctor` records its result in a cluster: a
// ConfigMap (the table, and whether a resolver works) and an Event on it,
// Warning when none works, so that `kubectl describe` and alerts on
// Events see it.
type Report struct {
	Kube
	Namespace, ConfigMap string
}

// Reasons of the doctor's Events.
const (
	ReasonResolversWork     = "ResolversWork"
	ReasonNoWorkingResolver = "NoWorkingResolver"
)

// Write records checks, whose printed table is table.
func (r Report) Write(ctx context.Context, checks []Check, table string) error {
	cfg, err := r.RESTConfig()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme})
	if err != nil {
		return err
	}
	working := Working(checks)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: r.ConfigMap, Namespace: r.Namespace}}
	if _, err := controllerutil.CreateOrUpdate(ctx, c, cm, func() error {
		cm.Data = map[string]string{"report": table, "working": fmt.Sprint(working), "time": time.Now().UTC().Format(time.RFC3339)}
		return nil
	}); err != nil {
		return fmt.Errorf("--report-configmap %s/%s: %w", r.Namespace, r.ConfigMap, err)
	}
	typ, reason, note := corev1.EventTypeNormal, ReasonResolversWork, "a resolver read the video and its media: "
	if !working {
		typ, reason, note = corev1.EventTypeWarning, ReasonNoWorkingResolver, "no resolver could read the video and its media; extractions fail: "
	}
	var parts []string
	for _, ch := range checks {
		state := "ok"
		if !ch.Metadata || !ch.Media {
			state = orDash(ch.Reason) + " (" + ch.Fix + ")"
		}
		parts = append(parts, ch.Resolver+" "+state)
	}
	now := metav1.NewMicroTime(time.Now())
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{GenerateName: r.ConfigMap + "-", Namespace: r.Namespace},
		EventTime:           now,
		ReportingController: "ytx.dev/doctor",
		ReportingInstance:   "ytx-doctor",
		Action:              "Check",
		Reason:              reason,
		Type:                typ,
		Note:                truncate(note+strings.Join(parts, "; "), 1000),
		Regarding:           corev1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: r.Namespace, Name: r.ConfigMap, UID: cm.UID},
	}
	return c.Create(ctx, ev)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
