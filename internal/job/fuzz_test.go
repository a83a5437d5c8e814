package job

import (
	"errors"
	"testing"
)

// Messages come from a topic anyone with write access can fill: Decode must
// never panic, must refuse with ErrInvalid or (a kind it does not know)
// ErrUnknownKind, never both, and whatever it accepts must be of a known
// kind and survive a round trip unchanged.
func FuzzDecode(f *testing.F) {
	good, _ := Encode(Message{Namespace: "music", Name: "never-gonna", UID: "3f1c6a2e-0000-4000-8000-000000000001", Generation: 2, Attempt: 1})
	listing, _ := Encode(Message{Kind: KindListing, Namespace: "music", Name: "daily-mix", UID: "3f1c6a2e-0000-4000-8000-000000000002", Generation: 1, Attempt: 7})
	for _, seed := range [][]byte{
		good,
		listing,
		[]byte(`{"v":1,"kind":"transcript","namespace":"a","name":"b","uid":"u","generation":1,"attempt":1}`),
		[]byte(`{"v":1,"kind":"transcript","extra":[1,{"x":null}]}`),
		[]byte(`{"v":1,"kind":"","namespace":"a","name":"b","uid":"u","generation":1,"attempt":1}`),
		[]byte(`{"v":1,"kind":7,"namespace":"a","name":"b","uid":"u","generation":1,"attempt":1}`),
		[]byte(`{}`),
		[]byte(`{"v":2,"namespace":"a","name":"b","uid":"u","generation":1,"attempt":1}`),
		[]byte(`{"v":1,"namespace":"a","name":"b","uid":"u","generation":1,"attempt":1,"extra":true}`),
		[]byte(`{"v":1,"namespace":"a","name":"b","uid":"u","generation":1,"attempt":1}{}`),
		[]byte(`{"v":1,"namespace":"a","name":"b","uid":"u","generation":-1,"attempt":1}`),
		[]byte("\x00\xff"),
		good[:len(good)/2],
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if errors.Is(err, ErrInvalid) == errors.Is(err, ErrUnknownKind) {
				t.Fatalf("Decode(%q) failed with neither or both of ErrInvalid and ErrUnknownKind: %v", data, err)
			}
			return
		}
		if !Known(m.Kind) {
			t.Fatalf("Decode accepted %q of unknown kind %q", data, m.Kind)
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("Decode accepted %q but Encode refuses %+v: %v", data, m, err)
		}
		back, err := Decode(again)
		if err != nil || back != m {
			t.Fatalf("round trip of %+v: %+v, %v", m, back, err)
		}
	})
}
