package v1alpha1_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"ytx.dev/ytx/api/v1alpha1"
)

// jsonFields lists the JSON names of a struct type's fields.
func jsonFields(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// TestTemplateSpecIsExtractionSpecWithoutURL: a field added to the
// extraction's spec must be added to the playlist's template too, or a
// playlist could not ask its children for it (url and playlist are the
// playlist's to set).
func TestTemplateSpecIsExtractionSpecWithoutURL(t *testing.T) {
	want := slices.DeleteFunc(jsonFields(reflect.TypeOf(v1alpha1.YouTubeExtractionSpec{})), func(n string) bool { return n == "url" || n == "playlist" })
	got := jsonFields(reflect.TypeOf(v1alpha1.ExtractionTemplateSpec{}))
	if !slices.Equal(got, want) {
		t.Fatalf("template spec fields %v, want the extraction spec's without url: %v", got, want)
	}
	// Every field is carried over by ExtractionSpec: a template with all of
	// them set makes a child spec with all of them set.
	ttl := int32(5)
	tmpl := v1alpha1.ExtractionTemplateSpec{
		Audio: &v1alpha1.AudioSpec{Format: v1alpha1.AudioM4A}, Video: &v1alpha1.VideoSpec{MaxHeight: 360},
		Thumbnail: true, Retry: &v1alpha1.RetrySpec{MaxAttempts: 2}, TTLSecondsAfterFinished: &ttl,
		ArtifactPolicy: v1alpha1.ArtifactPolicyRetain,
	}
	spec := reflect.ValueOf(tmpl.ExtractionSpec("https://youtu.be/dQw4w9WgXcQ"))
	for i := range spec.NumField() {
		if spec.Type().Field(i).Name != "Playlist" && spec.Field(i).IsZero() {
			t.Errorf("ExtractionSpec leaves %s unset", spec.Type().Field(i).Name)
		}
	}
}

// TestChildTTLDefaultsToADay: a template without ttlSecondsAfterFinished
// gives children DefaultChildTTLSeconds, so finished children do not pile
// up; an explicit 0 stays 0.
func TestChildTTLDefaultsToADay(t *testing.T) {
	if got := (v1alpha1.ExtractionTemplateSpec{}).ExtractionSpec("u").TTLSecondsAfterFinished; got == nil || *got != v1alpha1.DefaultChildTTLSeconds {
		t.Errorf("default child TTL %v, want %d", got, v1alpha1.DefaultChildTTLSeconds)
	}
	zero := int32(0)
	if got := (v1alpha1.ExtractionTemplateSpec{TTLSecondsAfterFinished: &zero}).ExtractionSpec("u").TTLSecondsAfterFinished; got == nil || *got != 0 {
		t.Errorf("template TTL 0 gives %v, want 0", got)
	}
}
