package kafka

import (
	"math/rand/v2"
	"testing"
)

// commitPointOf returns the pending commit offset of partition, -1 if none.
func commitPointOf(tr *offsetTracker, partition int) int64 {
	for _, cp := range tr.pending() {
		if cp.partition == partition {
			return cp.offset
		}
	}
	return -1
}

func TestTrackerInOrder(t *testing.T) {
	tr := newOffsetTracker()
	var tks []ticket
	for o := int64(0); o < 3; o++ {
		tk, reset := tr.start(0, o)
		if reset {
			t.Fatalf("reset at offset %d", o)
		}
		tks = append(tks, tk)
	}
	for i, tk := range tks {
		if !tr.finish(tk) {
			t.Fatalf("finishing offset %d did not advance", tk.offset)
		}
		if got := commitPointOf(tr, 0); got != int64(i)+1 {
			t.Fatalf("commit point %d, want %d", got, i+1)
		}
	}
	if n := tr.unfinished(0); n != 0 {
		t.Fatalf("%d unfinished", n)
	}
}

func TestTrackerOutOfOrder(t *testing.T) {
	tr := newOffsetTracker()
	tk0, _ := tr.start(0, 0)
	tk1, _ := tr.start(0, 1)
	tk2, _ := tr.start(0, 2)

	// Later messages finish first: nothing is committable while 0 runs.
	if tr.finish(tk2) || tr.finish(tk1) {
		t.Fatal("advanced past an unfinished offset")
	}
	if got := commitPointOf(tr, 0); got != -1 {
		t.Fatalf("commit point %d while offset 0 runs", got)
	}
	if n := tr.unfinished(0); n != 3 {
		t.Fatalf("%d unfinished, want 3", n)
	}
	// The slow one finishes: everything up to 2 is done at once.
	if !tr.finish(tk0) {
		t.Fatal("no advance")
	}
	if got := commitPointOf(tr, 0); got != 3 {
		t.Fatalf("commit point %d, want 3", got)
	}
}

func TestTrackerGaps(t *testing.T) {
	// Offsets 11 and 12 do not exist (compaction, transaction markers).
	tr := newOffsetTracker()
	tk10, _ := tr.start(0, 10)
	tk13, _ := tr.start(0, 13)
	tk20, _ := tr.start(0, 20)
	tr.finish(tk13)
	if got := commitPointOf(tr, 0); got != -1 {
		t.Fatalf("commit point %d while 10 runs", got)
	}
	tr.finish(tk10)
	if got := commitPointOf(tr, 0); got != 14 {
		t.Fatalf("commit point %d, want 14", got)
	}
	tr.finish(tk20)
	if got := commitPointOf(tr, 0); got != 21 {
		t.Fatalf("commit point %d, want 21", got)
	}
}

func TestTrackerManyPartitions(t *testing.T) {
	// Several partitions, random completion order: every partition ends
	// with its commit point right after its last offset, and never passes
	// an unfinished offset on the way.
	const parts, perPart = 7, 200
	tr := newOffsetTracker()
	type started struct {
		tk ticket
	}
	var all []started
	for o := int64(0); o < perPart; o++ {
		for p := 0; p < parts; p++ {
			tk, reset := tr.start(p, 3*o+int64(p%3)) // gaps, different per partition
			if reset {
				t.Fatal("unexpected reset")
			}
			all = append(all, started{tk})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	finished := make(map[ticket]bool)
	for _, s := range all {
		tr.finish(s.tk)
		finished[s.tk] = true
		// Check the invariant on this partition.
		cp := commitPointOf(tr, s.tk.partition)
		for _, o := range all {
			if o.tk.partition == s.tk.partition && o.tk.offset < cp && !finished[o.tk] {
				t.Fatalf("partition %d: commit point %d passes unfinished offset %d", s.tk.partition, cp, o.tk.offset)
			}
		}
	}
	for p := 0; p < parts; p++ {
		if got, want := commitPointOf(tr, p), 3*int64(perPart-1)+int64(p%3)+1; got != want {
			t.Errorf("partition %d: commit point %d, want %d", p, got, want)
		}
	}
}

func TestTrackerCommittedIsNotPending(t *testing.T) {
	tr := newOffsetTracker()
	tk, _ := tr.start(3, 5)
	tr.finish(tk)
	cps := tr.pending()
	if len(cps) != 1 || cps[0].offset != 6 || cps[0].partition != 3 {
		t.Fatalf("pending %+v", cps)
	}
	tr.committed(cps[0])
	if cps := tr.pending(); len(cps) != 0 {
		t.Fatalf("still pending after commit: %+v", cps)
	}
	tk, _ = tr.start(3, 6)
	tr.finish(tk)
	if got := commitPointOf(tr, 3); got != 7 {
		t.Fatalf("commit point %d, want 7", got)
	}
}

func TestTrackerResetOnRefetch(t *testing.T) {
	// Generation 1 fetches 0..3; 1 is slow; 0, 2, 3 finish; 1 is committed
	// as the commit point. Then a rebalance: kafka-go fetches again from
	// the committed offset 1.
	tr := newOffsetTracker()
	old := make([]ticket, 4)
	for o := range old {
		old[o], _ = tr.start(0, int64(o))
	}
	tr.finish(old[0])
	tr.finish(old[2])
	tr.finish(old[3])
	cp := tr.pending()[0]
	if cp.offset != 1 {
		t.Fatalf("commit point %d, want 1", cp.offset)
	}
	tr.committed(cp)

	tk1, reset := tr.start(0, 1)
	if !reset {
		t.Fatal("a re-fetch of offset 1 after 3 must reset the partition")
	}
	// The old generation's slow message finishes now: ignored, its new copy
	// is what counts.
	if tr.finish(old[1]) {
		t.Fatal("an old-epoch ticket advanced the new epoch")
	}
	if got := commitPointOf(tr, 0); got != -1 {
		t.Fatalf("commit point %d before anything of the new epoch finished", got)
	}
	tk2, _ := tr.start(0, 2)
	tr.finish(tk2)
	tr.finish(tk1)
	if got := commitPointOf(tr, 0); got != 3 {
		t.Fatalf("commit point %d, want 3", got)
	}
	// A commit point taken before a reset must not mark the new epoch.
	stale := tr.pending()[0]
	tr.reset(0)
	tr.committed(stale)
	tk, _ := tr.start(0, 2)
	tr.finish(tk)
	if got := commitPointOf(tr, 0); got != 3 {
		t.Fatalf("after reset: commit point %d, want 3 (still to commit)", got)
	}
}

func TestTrackerResetAllKeepsPartitionsApart(t *testing.T) {
	tr := newOffsetTracker()
	a, _ := tr.start(0, 0)
	b, _ := tr.start(1, 0)
	tr.resetAll()
	if tr.finish(a) || tr.finish(b) {
		t.Fatal("tickets from before resetAll advanced")
	}
	if n := len(tr.pending()); n != 0 {
		t.Fatalf("%d pending after resetAll", n)
	}
	// A re-fetch on one partition resets only that one.
	c, _ := tr.start(0, 5)
	d, _ := tr.start(1, 5)
	if _, reset := tr.start(0, 5); !reset {
		t.Fatal("no reset on re-fetch")
	}
	if !tr.finish(d) {
		t.Fatal("partition 1 was reset by partition 0's re-fetch")
	}
	if tr.finish(c) {
		t.Fatal("partition 0's old ticket advanced")
	}
}
