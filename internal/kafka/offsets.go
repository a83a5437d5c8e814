package kafka

// Kafka stores one committed offset per partition: "everything before this
// is done". Handlers finish out of order, so the consumer may commit offset
// N+1 only when every message it fetched from that partition up to N has
// finished. offsetTracker computes that point.
//
// It tracks fetched offsets, not offset arithmetic: offsets have gaps
// (compaction, transaction markers), and the next message after N is
// whatever the reader fetched next, not N+1.
//
// Rebalances: kafka-go does not tell its caller about a new group
// generation, but after one it fetches each assigned partition again from
// the committed offset. A fetched offset that is not above the last one seen
// is the sign; the tracker then starts a new epoch for that partition and
// ignores completions of tickets from older epochs, whose messages are
// fetched again and tracked anew.
//
// offsetTracker is not safe for concurrent use; the Consumer guards it.
type offsetTracker struct {
	parts map[int]*partitionOffsets
}

type partitionOffsets struct {
	epoch uint64
	// queue holds fetched offsets, ascending, from the oldest unfinished
	// one on; done marks the finished ones among them.
	queue []int64
	done  map[int64]bool
	// last is the highest offset started in this epoch, -1 if none.
	last int64
	// next is the commit position (all fetched offsets below it are
	// finished), -1 if nothing is committable yet in this epoch.
	next int64
	// committed is the position last committed in this epoch, -1 if none.
	committed int64
}

// ticket identifies one started message; finish takes it back.
type ticket struct {
	partition int
	offset    int64
	epoch     uint64
}

// commitPoint asks for partition's committed offset to become offset (the
// next offset to read, Kafka's convention).
type commitPoint struct {
	partition int
	offset    int64
	epoch     uint64
}

func newOffsetTracker() *offsetTracker {
	return &offsetTracker{parts: make(map[int]*partitionOffsets)}
}

func (t *offsetTracker) part(partition int) *partitionOffsets {
	p := t.parts[partition]
	if p == nil {
		p = &partitionOffsets{done: make(map[int64]bool), last: -1, next: -1, committed: -1}
		t.parts[partition] = p
	}
	return p
}

// start records a fetched message. reset reports that the offset went
// backwards (a new generation re-fetching from the committed offset) and
// the partition started a new epoch.
func (t *offsetTracker) start(partition int, offset int64) (tk ticket, reset bool) {
	p := t.part(partition)
	if p.last >= 0 && offset <= p.last {
		t.reset(partition)
		reset = true
	}
	p.queue = append(p.queue, offset)
	p.last = offset
	return ticket{partition: partition, offset: offset, epoch: p.epoch}, reset
}

// finish records that tk's message is done. It reports whether the commit
// position moved. Tickets from an older epoch are ignored.
func (t *offsetTracker) finish(tk ticket) (advanced bool) {
	p := t.parts[tk.partition]
	if p == nil || p.epoch != tk.epoch {
		return false
	}
	p.done[tk.offset] = true
	for len(p.queue) > 0 && p.done[p.queue[0]] {
		delete(p.done, p.queue[0])
		p.next = p.queue[0] + 1
		p.queue = p.queue[1:]
		advanced = true
	}
	if len(p.queue) == 0 {
		p.queue = nil // let the backing array go
	}
	return advanced
}

// reset starts a new epoch for partition: everything in flight is
// forgotten and will not be committed.
func (t *offsetTracker) reset(partition int) {
	p := t.part(partition)
	*p = partitionOffsets{epoch: p.epoch + 1, done: make(map[int64]bool), last: -1, next: -1, committed: -1}
}

// resetAll resets every partition.
func (t *offsetTracker) resetAll() {
	for partition := range t.parts {
		t.reset(partition)
	}
}

// pending returns the commit points not yet committed, one per partition.
func (t *offsetTracker) pending() []commitPoint {
	var cps []commitPoint
	for partition, p := range t.parts {
		if p.next > p.committed {
			cps = append(cps, commitPoint{partition: partition, offset: p.next, epoch: p.epoch})
		}
	}
	return cps
}

// committed records a successful commit of cp, unless the partition has
// been reset since.
func (t *offsetTracker) committed(cp commitPoint) {
	p := t.parts[cp.partition]
	if p != nil && p.epoch == cp.epoch && cp.offset > p.committed {
		p.committed = cp.offset
	}
}

// unfinished is the number of started messages of partition not yet
// behind the commit position (in flight, or finished after an unfinished
// one).
func (t *offsetTracker) unfinished(partition int) int {
	if p := t.parts[partition]; p != nil {
		return len(p.queue)
	}
	return 0
}
