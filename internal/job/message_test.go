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
