package kafka

import (
	"math/rand/v2"
	"testing"
)

// commitPointOf returns the pending commit offset of partition in the
// generation that assigned it last, -1 if none.
func commitPointOf(tr *offsetTracker, partition int) int64 {
	p := tr.parts[partition]
	if p == nil {
		return -1
	}
	for _, cp := range tr.pending(p.gen) {
		if cp.partition == partition {
			return cp.offset
		}
	}
	return -1
}

// newOwner returns a tracker whose generation 1 assigns it partitions, none
// committed yet.
func newOwner(partitions ...int) *offsetTracker {
	tr := newOffsetTracker()
	assigned := make(map[int]int64)
	for _, p := range partitions {
		assigned[p] = -2 // kafka.FirstOffset: nothing committed
	}
	tr.assign(1, assigned)
	return tr
}

// fetch starts offset of partition in generation gen and fails the test if
// the tracker refuses it or calls it a second delivery.
func fetch(t *testing.T, tr *offsetTracker, gen int32, partition int, offset int64) ticket {
	t.Helper()
	tk, ok, again := tr.start(gen, partition, offset)
	if !ok || again {
		t.Fatalf("start(gen %d, partition %d, offset %d): ok %v, again %v", gen, partition, offset, ok, again)
	}
	return tk
}

// done finishes tk and reports whether the commit point moved.
func done(t *testing.T, tr *offsetTracker, tk ticket) bool {
	t.Helper()
	return tr.finish(tk, "")
}

func TestTrackerInOrder(t *testing.T) {
	tr := newOwner(0)
	var tks []ticket
	for o := int64(0); o < 3; o++ {
		tks = append(tks, fetch(t, tr, 1, 0, o))
	}
	for i, tk := range tks {
		if !done(t, tr, tk) {
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
	tr := newOwner(0)
	tk0 := fetch(t, tr, 1, 0, 0)
	tk1 := fetch(t, tr, 1, 0, 1)
	tk2 := fetch(t, tr, 1, 0, 2)

	// Later messages finish first: nothing is committable while 0 runs.
	if done(t, tr, tk2) || done(t, tr, tk1) {
		t.Fatal("advanced past an unfinished offset")
	}
	if got := commitPointOf(tr, 0); got != -1 {
		t.Fatalf("commit point %d while offset 0 runs", got)
	}
	if n := tr.unfinished(0); n != 1 {
		t.Fatalf("%d unfinished, want 1", n)
	}
	if got := tr.uncommitted(); len(got) != 2 {
		t.Fatalf("uncommitted %v, want offsets 1 and 2", got)
	}
	// The slow one finishes: everything up to 2 is done at once.
	if !done(t, tr, tk0) {
		t.Fatal("no advance")
	}
	if got := commitPointOf(tr, 0); got != 3 {
		t.Fatalf("commit point %d, want 3", got)
	}
}

func TestTrackerGaps(t *testing.T) {
	// Offsets 11 and 12 do not exist (compaction, transaction markers).
	tr := newOwner(0)
	tk10 := fetch(t, tr, 1, 0, 10)
	tk13 := fetch(t, tr, 1, 0, 13)
	tk20 := fetch(t, tr, 1, 0, 20)
	done(t, tr, tk13)
	if got := commitPointOf(tr, 0); got != -1 {
		t.Fatalf("commit point %d while 10 runs", got)
	}
	done(t, tr, tk10)
	if got := commitPointOf(tr, 0); got != 14 {
		t.Fatalf("commit point %d, want 14", got)
	}
	done(t, tr, tk20)
	if got := commitPointOf(tr, 0); got != 21 {
		t.Fatalf("commit point %d, want 21", got)
	}
}

func TestTrackerManyPartitions(t *testing.T) {
	// Several partitions, random completion order: every partition ends
	// with its commit point right after its last offset, and never passes
	// an unfinished offset on the way.
	const parts, perPart = 7, 200
	tr := newOwner(0, 1, 2, 3, 4, 5, 6)
	type started struct {
		tk ticket
	}
	var all []started
	for o := int64(0); o < perPart; o++ {
		for p := 0; p < parts; p++ {
			tk := fetch(t, tr, 1, p, 3*o+int64(p%3)) // gaps, different per partition
			all = append(all, started{tk})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	finished := make(map[ticket]bool)
	for _, s := range all {
		done(t, tr, s.tk)
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
	tr := newOwner(3)
	done(t, tr, fetch(t, tr, 1, 3, 5))
	cps := tr.pending(1)
	if len(cps) != 1 || cps[0].offset != 6 || cps[0].partition != 3 {
		t.Fatalf("pending %+v", cps)
	}
	tr.committed(cps[0])
	if cps := tr.pending(1); len(cps) != 0 {
		t.Fatalf("still pending after commit: %+v", cps)
	}
	done(t, tr, fetch(t, tr, 1, 3, 6))
	if got := commitPointOf(tr, 3); got != 7 {
		t.Fatalf("commit point %d, want 7", got)
	}
}

// A rebalance that leaves a partition with this consumer restarts it at the
// committed offset: what was fetched and finished before still counts,
// also when the consumer stops before it fetches it all again.
func TestTrackerKeptPartitionKeepsWhatFinished(t *testing.T) {
	tr := newOwner(0)
	old := make([]ticket, 5)
	for o := range old {
		old[o] = fetch(t, tr, 1, 0, int64(o))
	}
	done(t, tr, old[0])
	done(t, tr, old[2])
	done(t, tr, old[3])
	cp := tr.pending(1)[0]
	if cp.offset != 1 {
		t.Fatalf("commit point %d, want 1", cp.offset)
	}
	tr.committed(cp)

	// Generation 2 keeps partition 0, committed at 1; offset 1 (still
	// running) is fetched again, and nothing after it yet.
	tr.assign(2, map[int]int64{0: 1})
	if _, ok, _ := tr.start(1, 0, 1); ok {
		t.Fatal("a message fetched in generation 1 was started in generation 2")
	}
	again1, ok, again := tr.start(2, 0, 1)
	if !ok || !again {
		t.Fatalf("second delivery of offset 1: ok %v, again %v", ok, again)
	}
	// The first delivery of 1 finishes: 2 and 3 were finished before the
	// rebalance, 4 runs.
	if !done(t, tr, old[1]) {
		t.Fatal("finishing offset 1 did not advance")
	}
	if got := commitPointOf(tr, 0); got != 4 {
		t.Fatalf("commit point %d, want 4", got)
	}
	if got := tr.uncommitted(); len(got) != 3 {
		t.Fatalf("uncommitted %v, want offsets 1 to 3", got)
	}
	// The second delivery finishing changes nothing; nor does the last
	// one of the first generation, 4, counting less.
	if done(t, tr, again1) {
		t.Fatal("the second delivery of a finished message advanced")
	}
	if !done(t, tr, old[4]) {
		t.Fatal("finishing offset 4 did not advance")
	}
	if got := commitPointOf(tr, 0); got != 5 {
		t.Fatalf("commit point %d, want 5", got)
	}
}

// A partition that goes to another member is committed in no generation
// that does not assign it; what this consumer finishes of it afterwards
// makes commit points for Consumer.commitAhead.
func TestTrackerRevokedPartition(t *testing.T) {
	tr := newOwner(0, 1)
	p0 := fetch(t, tr, 1, 0, 0)
	running := fetch(t, tr, 1, 1, 0)
	done(t, tr, fetch(t, tr, 1, 1, 1))
	done(t, tr, fetch(t, tr, 1, 1, 2))

	tr.assign(2, map[int]int64{0: -2})
	if _, ok, _ := tr.start(2, 1, 3); ok {
		t.Fatal("started a message of a partition generation 2 does not assign")
	}
	if cps := tr.revoked(); len(cps) != 0 {
		t.Fatalf("revoked commit points %+v while offset 0 runs", cps)
	}
	if !done(t, tr, running) {
		t.Fatal("finishing offset 0 of the revoked partition did not advance")
	}
	done(t, tr, p0)
	cps := tr.pending(2)
	if len(cps) != 1 || cps[0].partition != 0 || cps[0].offset != 1 {
		t.Fatalf("pending %+v, want partition 0 at 1 only", cps)
	}
	rs := tr.revoked()
	if len(rs) != 1 || rs[0].partition != 1 || rs[0].offset != 3 {
		t.Fatalf("revoked %+v, want partition 1 at 3", rs)
	}
	// The new owner is at 2 already: what is behind it is forgotten.
	tr.committed(commitPoint{partition: 1, offset: 2, epoch: rs[0].epoch})
	if got := tr.uncommitted(); len(got) != 2 {
		t.Fatalf("uncommitted %v, want partition 0's offset 0 and partition 1's offset 2", got)
	}
	tr.committed(rs[0])
	if rs := tr.revoked(); len(rs) != 0 {
		t.Fatalf("revoked %+v after its commit", rs)
	}
}

// A partition that comes back, after another member had it or after this
// consumer missed a generation, starts afresh at the offset the generation
// gives; commit points and tickets from before do not count.
func TestTrackerPartitionBack(t *testing.T) {
	tr := newOwner(0)
	old0 := fetch(t, tr, 1, 0, 0)
	old1 := fetch(t, tr, 1, 0, 1)
	done(t, tr, old0)
	stale := tr.pending(1)[0]
	tr.assign(2, map[int]int64{})
	tr.assign(3, map[int]int64{0: 5})

	tr.committed(stale)
	if done(t, tr, old1) {
		t.Fatal("a ticket from before another owner advanced")
	}
	done(t, tr, fetch(t, tr, 3, 0, 5))
	if got := commitPointOf(tr, 0); got != 6 {
		t.Fatalf("commit point %d, want 6", got)
	}

	// Generation 5 assigns it again, but this consumer was not in 4.
	tk := fetch(t, tr, 3, 0, 6)
	tr.assign(5, map[int]int64{0: 6})
	if done(t, tr, tk) {
		t.Fatal("a ticket from before a missed generation advanced")
	}
	if got := commitPointOf(tr, 0); got != -1 {
		t.Fatalf("commit point %d, want none", got)
	}
}
