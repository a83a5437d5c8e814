package storage_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"ytx.dev/ytx/internal/storage"
)

func TestAttemptKeyIsNamespaceNameUIDGenerationAttemptFile(t *testing.T) {
	got := storage.AttemptKey("team-a", "never-gonna", "5f1c0b9e-uid", storage.Attempt{Generation: 3, Attempt: 2}, "audio.m4a")
	if want := "team-a/never-gonna/5f1c0b9e-uid/3-2/audio.m4a"; got != want {
		t.Errorf("AttemptKey = %q, want %q", got, want)
	}
	if p := storage.ExtractionPrefix("team-a", "never-gonna", "5f1c0b9e-uid"); !strings.HasPrefix(got, p) || p != "team-a/never-gonna/5f1c0b9e-uid/" {
		t.Errorf("ExtractionPrefix = %q, not the start of %q", p, got)
	}
	if p := storage.NamePrefix("team-a", "never-gonna"); p != "team-a/never-gonna/" {
		t.Errorf("NamePrefix = %q", p)
	}
}

// Two extractions of the same name, one after the other, share no prefix:
// deleting or pruning one can never reach the other's files.
func TestExtractionsOfTheSameNameShareNoPrefix(t *testing.T) {
	a := storage.ExtractionPrefix("ns", "name", "uid-1")
	b := storage.ExtractionPrefix("ns", "name", "uid-10")
	if strings.HasPrefix(b, a) || strings.HasPrefix(a, b) {
		t.Errorf("%q and %q overlap", a, b)
	}
	k := storage.AttemptKey("ns", "name", "uid-10", storage.Attempt{Generation: 1, Attempt: 1}, "info.json")
	if strings.HasPrefix(k, a) {
		t.Errorf("%q is under the other extraction's prefix %q", k, a)
	}
}

// An attempt writes only under keys of its own: no two attempts of one
// extraction share a prefix either.
func TestAttemptsOfOneExtractionShareNoPrefix(t *testing.T) {
	attempts := []storage.Attempt{{1, 1}, {1, 2}, {1, 12}, {11, 2}, {2, 1}, {12, 1}}
	for _, a := range attempts {
		for _, b := range attempts {
			pa, pb := storage.AttemptPrefix("ns", "n", "u", a), storage.AttemptPrefix("ns", "n", "u", b)
			if a != b && strings.HasPrefix(pa, pb) {
				t.Errorf("%v's prefix %q is under %v's %q", a, pa, b, pb)
			}
		}
	}
}

func TestAttemptBeforeOrdersByGenerationThenAttempt(t *testing.T) {
	ordered := []storage.Attempt{{1, 1}, {1, 2}, {1, 10}, {2, 1}, {2, 3}, {10, 1}}
	for i, a := range ordered {
		for j, b := range ordered {
			if got := a.Before(b); got != (i < j) {
				t.Errorf("%v.Before(%v) = %v", a, b, got)
			}
		}
	}
}

func TestParseAttemptKeyReadsBackWhatAttemptKeyMakes(t *testing.T) {
	p := storage.ExtractionPrefix("ns", "n", "u")
	for _, a := range []storage.Attempt{{1, 1}, {7, 3}, {1 << 40, 1 << 30}} {
		key := storage.AttemptKey("ns", "n", "u", a, "video.mp4")
		got, file, ok := storage.ParseAttemptKey(p, key)
		if !ok || got != a || file != "video.mp4" {
			t.Errorf("ParseAttemptKey(%q) = %v, %q, %v", key, got, file, ok)
		}
	}
}

// A key the layout did not make belongs to nobody we can name, so nothing
// deletes it as an older attempt's.
func TestParseAttemptKeyRefusesWhatTheLayoutDoesNotMake(t *testing.T) {
	p := storage.ExtractionPrefix("ns", "n", "u")
	for _, key := range []string{
		"ns/n/info.json",        // the earlier layout
		"ns/n/u2/1-1/info.json", // another extraction
		"ns/n/u/info.json",      // no attempt
		"ns/n/u/1-1/",           // no file
		"ns/n/u/1-1/x/info.json",
		"ns/n/u/1/info.json",
		"ns/n/u/0-1/info.json",
		"ns/n/u/1-0/info.json",
		"ns/n/u/01-1/info.json",
		"ns/n/u/1-+1/info.json",
		"ns/n/u/-1-1/info.json",
		"ns/n/u/1-1-1/info.json",
		"ns/n/u/1-99999999999/info.json",
	} {
		if a, f, ok := storage.ParseAttemptKey(p, key); ok {
			t.Errorf("ParseAttemptKey(%q) = %v, %q, true; want refused", key, a, f)
		}
	}
}

func FuzzParseAttemptKeyAcceptsOnlyAttemptKeys(f *testing.F) {
	f.Add("ns/n/u/1-1/info.json")
	f.Add("ns/n/u/01-1/info.json")
	f.Add("ns/n/u/1-1/a/b")
	p := storage.ExtractionPrefix("ns", "n", "u")
	f.Fuzz(func(t *testing.T, key string) {
		a, file, ok := storage.ParseAttemptKey(p, key)
		if ok && storage.AttemptKey("ns", "n", "u", a, file) != key {
			t.Errorf("ParseAttemptKey(%q) accepted %v %q, which AttemptKey writes as %q", key, a, file, storage.AttemptKey("ns", "n", "u", a, file))
		}
	})
}

func TestStatReportsSizeAndTimeOrNotFound(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			before := time.Now().Add(-time.Minute)
			if _, err := b.store.Put(ctx, "ns/n/a.json", strings.NewReader("{}"), storage.PutOptions{Size: 2}); err != nil {
				t.Fatal(err)
			}
			info, err := b.store.Stat(ctx, "ns/n/a.json")
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != 2 || info.Modified.Before(before) || info.Modified.After(time.Now().Add(time.Minute)) {
				t.Errorf("Stat = %+v, want size 2 and a time around now", info)
			}
			for _, missing := range []string{"ns/n/b.json", "ns/n"} {
				if _, err := b.store.Stat(ctx, missing); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("Stat(%q) error = %v, want ErrNotFound", missing, err)
				}
			}
		})
	}
}

// A sweep of interrupted uploads spares those match refuses: the uploads of
// an attempt that is still running.
func TestDeleteIncompleteSparesWhatMatchRefuses(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			old := storage.AttemptKey("ns", "n", "u", storage.Attempt{Generation: 1, Attempt: 1}, "audio.m4a")
			running := storage.AttemptKey("ns", "n", "u", storage.Attempt{Generation: 1, Attempt: 2}, "audio.m4a")
			b.interrupt(t, old)
			b.interrupt(t, running)
			p := storage.ExtractionPrefix("ns", "n", "u")
			var seen []string
			err := b.store.DeleteIncomplete(ctx, p, func(key string) bool {
				seen = append(seen, key)
				a, _, ok := storage.ParseAttemptKey(p, key)
				return ok && a.Before(storage.Attempt{Generation: 1, Attempt: 2})
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != 2 {
				t.Errorf("match was asked about %q, want both uploads", seen)
			}
			left := slices.DeleteFunc(b.leftovers(t), func(s string) bool { return !isLeftover(s) })
			if len(left) != 1 || !strings.Contains(left[0], "/1-2/") {
				t.Errorf("want only the running attempt's upload to stay, have %q", left)
			}
			if err := b.store.Delete(ctx, p); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Files of the earlier layout ("ns/name/<file>") belong to the extraction of
// that name that was alive when they were stored: one created after them
// (the same name applied again after a Retain) never owns them.
func TestOwnedLegacyKeysAreThoseStoredSinceTheExtractionWasCreated(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			createdBefore := time.Now().Add(-time.Hour).Truncate(time.Second)
			for _, f := range []string{"info.json", "thumbnail.jpg", "notes.txt"} {
				if _, err := b.store.Put(ctx, "ns/song/"+f, strings.NewReader("x"), storage.PutOptions{Size: 1}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := b.store.Put(ctx, "ns/song-2/info.json", strings.NewReader("x"), storage.PutOptions{Size: 1}); err != nil {
				t.Fatal(err)
			}
			owned, err := storage.OwnedLegacyKeys(ctx, b.store, "ns", "song", createdBefore)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"ns/song/info.json", "ns/song/thumbnail.jpg"}; !slices.Equal(owned, want) {
				t.Errorf("created before the files: owned %q, want %q", owned, want)
			}
			owned, err = storage.OwnedLegacyKeys(ctx, b.store, "ns", "song", time.Now().Add(time.Hour))
			if err != nil || len(owned) != 0 {
				t.Errorf("created after the files: owned %q (%v), want none", owned, err)
			}
		})
	}
}
