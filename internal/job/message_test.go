package job

import (
	"errors"
	"strings"
	"testing"
)

func valid() Message {
	return Message{Namespace: "music", Name: "never-gonna", UID: "5f0c4bd4-6b1e-4c43-9e3c-0a6f1d9c7a11", Generation: 2, Attempt: 1}
}

func TestRoundTrip(t *testing.T) {
	in := valid()
	data, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(data)
	if err != nil {
		t.Fatalf("Decode(%s): %v", data, err)
	}
	in.Version = Version
	if out != in {
		t.Fatalf("round trip changed the message: got %+v, want %+v", out, in)
	}
	if got := out.Key(); got != "music/never-gonna" {
		t.Fatalf("Key() = %q", got)
	}
}

func TestEncodeRefusesIncompleteMessages(t *testing.T) {
	m := valid()
	m.UID = ""
	if _, err := Encode(m); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Encode without a uid: got %v, want ErrInvalid", err)
	}
}

func TestDecodeRefusesPoison(t *testing.T) {
	cases := map[string]string{
		"empty":           ``,
		"not json":        `hello`,
		"truncated":       `{"v":1,"namespace":"music","name":"x","uid":"u","generation":1,"att`,
		"array":           `[1,2,3]`,
		"unknown version": `{"v":2,"namespace":"music","name":"x","uid":"u","generation":1,"attempt":1}`,
		"no version":      `{"namespace":"music","name":"x","uid":"u","generation":1,"attempt":1}`,
		"unknown field":   `{"v":1,"namespace":"music","name":"x","uid":"u","generation":1,"attempt":1,"url":"http://10.0.0.1/"}`,
		"missing name":    `{"v":1,"namespace":"music","uid":"u","generation":1,"attempt":1}`,
		"zero attempt":    `{"v":1,"namespace":"music","name":"x","uid":"u","generation":1,"attempt":0}`,
		"negative gen":    `{"v":1,"namespace":"music","name":"x","uid":"u","generation":-1,"attempt":1}`,
		"wrong type":      `{"v":1,"namespace":"music","name":"x","uid":"u","generation":"1","attempt":1}`,
		"trailing data":   `{"v":1,"namespace":"music","name":"x","uid":"u","generation":1,"attempt":1}{}`,
		"huge":            `{"v":1,"namespace":"` + strings.Repeat("a", MaxSize) + `"}`,
	}
	for name, in := range cases {
		if m, err := Decode([]byte(in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Decode = %+v, %v; want ErrInvalid", name, m, err)
		}
	}
}

// Workers deployed before job kinds existed refuse unknown fields: an
// extraction's message must stay exactly what they read.
func TestExtractionMessageIsUnchangedOnTheWire(t *testing.T) {
	data, err := Encode(valid())
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"v":1,"namespace":"music","name":"never-gonna","uid":"5f0c4bd4-6b1e-4c43-9e3c-0a6f1d9c7a11","generation":2,"attempt":1}`
	if string(data) != want {
		t.Fatalf("extraction message on the wire:\n got %s\nwant %s", data, want)
	}
}

func TestListingMessageRoundTripsWithItsKind(t *testing.T) {
	in := valid()
	in.Kind = KindListing
	data, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"kind":"listing"`) {
		t.Fatalf("listing message %s does not say its kind", data)
	}
	out, err := Decode(data)
	in.Version = Version
	if err != nil || out != in {
		t.Fatalf("Decode(%s) = %+v, %v; want %+v", data, out, err, in)
	}
}

// A newer manager's job is not poison: it is refused with ErrUnknownKind,
// never ErrInvalid, even when the new kind brings fields of its own.
func TestDecodeUnknownKindIsNotInvalid(t *testing.T) {
	cases := map[string]string{
		"unknown kind":                  `{"v":1,"kind":"transcript","namespace":"music","name":"x","uid":"u","generation":1,"attempt":1}`,
		"unknown kind with a new field": `{"v":1,"kind":"transcript","namespace":"music","name":"x","uid":"u","generation":1,"attempt":1,"lang":"en"}`,
		"unknown kind without a uid":    `{"v":1,"kind":"transcript","namespace":"music","name":"x"}`,
	}
	for name, in := range cases {
		m, err := Decode([]byte(in))
		if !errors.Is(err, ErrUnknownKind) || errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Decode = %v; want ErrUnknownKind and not ErrInvalid", name, err)
		}
		if m.Kind != "transcript" || m.Namespace != "music" || m.Name != "x" {
			t.Errorf("%s: Decode returned %+v; want the kind and the name, for the log", name, m)
		}
	}
	// Whatever is wrong besides the kind still makes it poison.
	for name, in := range map[string]string{
		"known kind, unknown field": `{"v":1,"kind":"listing","namespace":"music","name":"x","uid":"u","generation":1,"attempt":1,"lang":"en"}`,
		"unknown kind, old version": `{"v":0,"kind":"transcript","namespace":"music","name":"x","uid":"u","generation":1,"attempt":1}`,
		"kind not a string":         `{"v":1,"kind":7,"namespace":"music","name":"x","uid":"u","generation":1,"attempt":1}`,
		"unknown kind, trailing":    `{"v":1,"kind":"transcript","namespace":"music","name":"x","uid":"u","generation":1,"attempt":1}{}`,
	} {
		if _, err := Decode([]byte(in)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Decode = %v; want ErrInvalid", name, err)
		}
	}
}

func TestEncodeRefusesAnUnknownKind(t *testing.T) {
	m := valid()
	m.Kind = "transcript"
	if _, err := Encode(m); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("Encode of kind %q: got %v, want ErrUnknownKind", m.Kind, err)
	}
}
