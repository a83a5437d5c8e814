package config

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"

	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/linktest"
)

// specRule evaluates the CRD's own CEL rules on one spec field (spec.url,
// spec.publishedAfter) with the API server's validator (the code kube-apiserver runs at admission), without an
// API server: fast enough to fuzz. test/e2e runs the same table through a
// real API server.
type specRule struct {
	path      *field.Path
	schema    *structuralschema.Structural
	validator *cel.Validator
}

// The kinds whose spec.url a CEL rule reads.
const (
	extractionKind = "YouTubeExtraction"
	playlistKind   = "YouTubePlaylist"
)

func newURLRule(t testing.TB, kind string) *specRule {
	t.Helper()
	return newSpecRule(t, kind, "url")
}

// newSpecRule is the CEL rules of the spec field name of kind, as the API
// server runs them.
func newSpecRule(t testing.TB, kind, name string) *specRule {
	t.Helper()
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(crds, func(c *apiextensionsv1.CustomResourceDefinition) bool { return c.Spec.Names.Kind == kind })
	if i < 0 {
		t.Fatalf("no CRD of kind %s", kind)
	}
	var props apiextensions.JSONSchemaProps
	url := crds[i].Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties[name]
	if len(url.XValidations) == 0 {
		t.Fatalf("%s's spec.%s has no CEL rule: admission would accept any string", kind, name)
	}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(&url, &props, nil); err != nil {
		t.Fatal(err)
	}
	s, err := structuralschema.NewStructural(&props)
	if err != nil {
		t.Fatal(err)
	}
	v := cel.NewValidator(s, false, celconfig.PerCallLimit)
	if v == nil {
		t.Fatalf("no validator for spec.%s", name)
	}
	return &specRule{path: field.NewPath("spec", name), schema: s, validator: v}
}

// staticEstimatedCostLimit is the API server's limit on one rule's
// estimated cost (StaticEstimatedCostLimit of
// k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation, whose
// package would pull the whole API server into this test).
const staticEstimatedCostLimit = 10_000_000

// The API server refuses a CRD whose rules it estimates to cost more than
// its limit (the rule's cost grows with the sizes of the strings it works
// on); this fails in milliseconds where a CRD install would.
func TestURLRulesFitTheAPIServersCostLimit(t *testing.T) {
	for _, kind := range []string{extractionKind, playlistKind} {
		t.Run(kind, func(t *testing.T) { checkCost(t, newURLRule(t, kind)) })
	}
}

func checkCost(t *testing.T, r *specRule) {
	res, err := cel.Compile(r.schema, model.SchemaDeclType(r.schema, false), celconfig.PerCallLimit,
		environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()), cel.NewExpressionsEnvLoader())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) == 0 {
		t.Fatal("no rule compiled")
	}
	for _, c := range res {
		if c.Error != nil {
			t.Fatalf("the rule does not compile: %v", c.Error)
		}
		// spec.url is under no list: the rule runs once per object, so its
		// own cost is what counts.
		if cost := c.MaxCost; cost > staticEstimatedCostLimit {
			t.Errorf("estimated cost %d passes the API server's limit of %d", cost, staticEstimatedCostLimit)
		}
	}
}

// admits reports whether admission accepts link as spec.url, and why not.
func (r *specRule) admits(value string) (bool, string) {
	errs, _ := r.validator.Validate(context.Background(), r.path, r.schema, value, nil, math.MaxInt64)
	if len(errs) == 0 {
		return true, ""
	}
	return false, errs.ToAggregate().Error()
}

// Admission and the worker's parser agree on every link of the shared
// table, and on the video each valid one names (admission cannot say which
// ID it saw; the parser's ID is checked in internal/youtube and, end to end,
// in test/e2e).
func TestAdmissionAndParserAgreeOnEveryLinkInTheTable(t *testing.T) {
	r := newURLRule(t, extractionKind)
	checked := 0
	for link := range linktest.Valid {
		if ok, why := r.admits(link); !ok {
			t.Errorf("admission refuses %q: %s", link, why)
		}
		checked++
	}
	for _, link := range append(append([]string{}, linktest.Invalid...), linktest.Hostile...) {
		ok, why := r.admits(link)
		if ok {
			t.Errorf("admission accepts %q", link)
			continue
		}
		if !strings.Contains(why, "https://youtu.be/VIDEO_ID") {
			t.Errorf("admission's error for %q does not show a valid link: %s", link, why)
		}
		checked++
	}
	if checked < 80 {
		t.Fatalf("only %d links checked: the table lost entries", checked)
	}
}

// Whatever the string, admission accepts it exactly when the parser finds
// one video in it. The rule and the parser are written apart (CEL in the
// CRD, Go in internal/youtube), in the same steps, so this can fail.
func FuzzAdmissionAgreesWithParser(f *testing.F) {
	for link := range linktest.Valid {
		f.Add(link)
	}
	for _, link := range append(append([]string{}, linktest.Invalid...), linktest.Hostile...) {
		f.Add(link)
	}
	fuzzAgreement(f, newURLRule(f, extractionKind), "VideoID", func(link string) (any, error) { return youtube.VideoID(link) })
}

// A playlist's admission and youtube.ListTarget agree on every playlist
// and channel link of the shared table, and on every video link (a video
// link is a playlist's only when it carries a list), and each refusal
// shows links that work and sends single videos to YouTubeExtraction.
func TestPlaylistURLRuleAgreesWithListTargetOnEveryLinkInTheTable(t *testing.T) {
	r := newURLRule(t, playlistKind)
	for link := range linktest.ListValid {
		if ok, why := r.admits(link); !ok {
			t.Errorf("admission refuses %q: %s", link, why)
		}
	}
	for link := range linktest.ListRefused {
		ok, why := r.admits(link)
		if ok {
			t.Errorf("admission accepts %q", link)
			continue
		}
		for _, want := range []string{"https://www.youtube.com/playlist?list=LIST_ID", "https://www.youtube.com/@HANDLE", "YouTubeExtraction"} {
			if !strings.Contains(why, want) {
				t.Errorf("admission's error for %q does not say %q: %s", link, want, why)
			}
		}
	}
	video := append(append([]string{}, linktest.Invalid...), linktest.Hostile...)
	for link := range linktest.Valid {
		video = append(video, link)
	}
	for _, link := range video {
		admitted, why := r.admits(link)
		_, err := youtube.ListTarget(link)
		if admitted != (err == nil) {
			t.Errorf("%q: admission accepts it: %t (%s), ListTarget: %v", link, admitted, why, err)
		}
	}
	if n := len(linktest.ListValid) + len(linktest.ListRefused); n < 150 {
		t.Fatalf("only %d playlist links checked: the table lost entries", n)
	}
}

// Whatever the string, a playlist's admission accepts it exactly when
// youtube.ListTarget reads a playlist or channel from it. The rule and the
// parser are written apart, in the same steps, so this can fail.
func FuzzPlaylistURLRuleAgreesWithListTarget(f *testing.F) {
	for link := range linktest.ListValid {
		f.Add(link)
	}
	for link := range linktest.ListRefused {
		f.Add(link)
	}
	for _, link := range linktest.Hostile {
		f.Add(link)
	}
	fuzzAgreement(f, newURLRule(f, playlistKind), "ListTarget", func(link string) (any, error) { return youtube.ListTarget(link) })
}

// fuzzAgreement fuzzes a link rule against the parser the worker runs on
// the same field: admission accepts a link exactly when parse reads one.
func fuzzAgreement(f *testing.F, r *specRule, parser string, parse func(string) (any, error)) {
	f.Fuzz(func(t *testing.T, link string) {
		if len(link) > 2048 {
			return // the CRD's maxLength refuses it before the rule runs
		}
		admitted, why := r.admits(link)
		got, err := parse(link)
		switch {
		case admitted && err != nil:
			t.Fatalf("admission accepts %q, %s refuses it: %v", link, parser, err)
		case !admitted && err == nil:
			t.Fatalf("%s reads %+v from %q, admission refuses it: %s", parser, got, link, why)
		}
	})
}

// Admission accepts every spec.publishedAfter the filter reads, in its three
// forms, and refuses the rest with a message that shows them; the only
// strings it accepts that the filter refuses are impossible days (the 30th
// of February), which a regular expression cannot tell and the manager
// fails with InvalidPublishedAfter.
func TestPublishedAfterRuleAdmitsEveryDayTheFilterReads(t *testing.T) {
	r := newSpecRule(t, playlistKind, "publishedAfter")
	var days []string
	for d := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() == 2024; d = d.AddDate(0, 0, 1) {
		days = append(days, d.Format(time.DateOnly), d.Format("20060102"), d.Format(time.RFC3339), d.Add(23*time.Hour+59*time.Minute).Format("2006-01-02T15:04:05.999-07:00"))
	}
	if len(days) != 366*4 {
		t.Fatalf("%d forms of the days of 2024, want %d", len(days), 366*4)
	}
	for _, s := range append(days, "2024-06-01t10:00:00z", "2024-06-01T10:00:00.123456789+05:30") {
		if _, err := playlist.ParsePublishedAfter(s); err != nil {
			t.Errorf("the filter refuses %q: %v", s, err)
		}
		if ok, why := r.admits(s); !ok {
			t.Errorf("admission refuses %q: %s", s, why)
		}
	}
	for _, s := range []string{"", "2024", "2024-6-1", "2024-06", "2024/06/01", "01-06-2024", "2024-13-01", "2024-00-10", "2024-06-32", "2024-0601",
		"202406-01", "2024061", "240601", "2024-06-01T25:00:00Z", "2024-06-01T10:00:00", "2024-06-01 10:00:00Z", "yesterday", "now-7d", " 2024-06-01", "2024-06-01\n"} {
		ok, why := r.admits(s)
		if ok {
			t.Errorf("admission accepts %q", s)
			continue
		}
		if _, err := playlist.ParsePublishedAfter(s); err == nil {
			t.Errorf("admission refuses %q, which the filter reads", s)
		}
		for _, want := range []string{"spec.publishedAfter", "YYYY-MM-DD", "YYYYMMDD", "RFC 3339"} {
			if !strings.Contains(why, want) {
				t.Errorf("admission's error for %q does not say %q: %s", s, want, why)
			}
		}
	}
	for _, s := range []string{"2023-02-29", "2024-02-30", "20240431", "2024-09-31T00:00:00Z"} {
		if ok, why := r.admits(s); !ok {
			t.Errorf("admission refuses %q (%s): the rule is stricter than this test knows", s, why)
		}
		if _, err := playlist.ParsePublishedAfter(s); err == nil {
			t.Errorf("the filter reads the impossible day %q", s)
		}
	}
}
