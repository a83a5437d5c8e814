package config

import (
	"testing"

	"ytx.dev/ytx/internal/youtube"
)

// The CRD's CEL rule for spec.url and the controller's link parser must be
// the same pattern: otherwise admission accepts links the controller fails,
// or refuses links it could read.
func TestURLRuleMatchesParser(t *testing.T) {
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) != 1 {
		t.Fatalf("want one CRD, got %d", len(crds))
	}
	spec := crds[0].Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	url := spec.Properties["url"]
	want := "self.matches('" + youtube.VideoURLPattern + "')"
	for _, rule := range url.XValidations {
		if rule.Rule == want {
			return
		}
	}
	t.Fatalf("spec.url has no rule %s\nrules: %+v\nchange the marker on YouTubeExtractionSpec.URL to match internal/youtube.VideoURLPattern and run make manifests", want, url.XValidations)
}
