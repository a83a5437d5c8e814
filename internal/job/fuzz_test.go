package job

import (
	"errors"
	"testing"
)

// Messages come from a topic anyone with write access can fill: Decode must
// never panic, must refuse with ErrInvalid, and whatever it accepts must
// survive a round trip unchanged.
func FuzzDecode(f *testing.F) {
	good, _ := Encode(Message{Namespace: "music", Name: "never-gonna", UID: "3f1c6a2e-0000-4000-8000-000000000001", Generation: 2, Attempt: 1})
	for _, seed := range [][]byte{
		good,
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
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode(%q) failed without ErrInvalid: %v", data, err)
			}
			return
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
