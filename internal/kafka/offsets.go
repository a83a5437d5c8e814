package kafka

import "slices"

// Kafka stores one committed offset per partition: "everything before this
// is done". Handlers finish out of order, so the consumer may commit offset
// N+1 only when every message it fetched from that partition up to N has
// finished. offsetTracker computes that point.
//
// It tracks fetched offsets, not offset arithmetic: offsets have gaps
// (compaction, transaction markers), and the next message after N is
// whatever was fetched next, not N+1.
//
// Ownership: the consumer commits a partition only in a group generation
// that assigns the partition to it. A partition kept from one generation to
// the next keeps what was fetched and finished: its messages are fetched
// again from the committed offset, and a message finished before, or by
// its first delivery while the second runs, is finished. A partition that
// went to another member is committed no more by this consumer (that would
// move the group's offset back behind what its new owner committed): what
// this consumer finished of it and had not committed is delivered again to
// the new owner, and the tracker reports it. A partition that comes back
// after another member may have had it starts a new epoch; messages of the
// old one count as finished after their partition went.
//
// offsetTracker is not safe for concurrent use; the Consumer guards it.
type offsetTracker struct {
	parts map[int]*partitionOffsets
}

type partitionOffsets struct {
	// owned: the latest generation, gen, assigned the partition to this
	// consumer. It stays set between generations, until the next one
	// says otherwise.
	owned bool
	gen   int32
	epoch uint64
	// queue holds fetched offsets not yet committed, ascending, distinct;
	// done holds the finished ones among them, with a label for reports.
	queue []int64
	done  map[int64]string
	// last is the highest offset fetched in this epoch, -1 if none.
	last int64
	// committed is the group's offset as far as this consumer knows: the
	// one the generation started the partition at, or a later commit of
	// this consumer; -1 if none.
	committed int64
}

// ticket identifies one delivery of a message; finish takes it back.
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

// uncommitted is a finished message whose offset this consumer cannot
// commit; label is what finish was given for it.
type uncommitted struct {
	partition int
	offset    int64
	label     string
}

func newOffsetTracker() *offsetTracker {
	return &offsetTracker{parts: make(map[int]*partitionOffsets)}
}

func (t *offsetTracker) part(partition int) *partitionOffsets {
	p := t.parts[partition]
	if p == nil {
		p = &partitionOffsets{gen: -1, done: make(map[int64]string), last: -1, committed: -1}
		t.parts[partition] = p
	}
	return p
}

// assign records generation gen's assignment: partition → the offset it
// starts at (the group's committed offset, or negative for none). It
// returns the finished, uncommitted messages of the partitions this
// consumer had and lost: the new owner is given them again.
func (t *offsetTracker) assign(gen int32, assigned map[int]int64) (lost []uncommitted) {
	for partition, p := range t.parts {
		if _, ok := assigned[partition]; !ok && p.owned {
			p.owned = false
			lost = append(lost, p.dropDone(partition)...)
		}
	}
	for partition, start := range assigned {
		p := t.part(partition)
		if !p.owned || p.gen != gen-1 {
			// Another member may have had it since this consumer last
			// did: what was fetched then tells nothing about now.
			*p = partitionOffsets{epoch: p.epoch + 1, done: make(map[int64]string), last: -1, committed: -1}
		}
		p.owned, p.gen = true, gen
		if start >= 0 {
			p.committed = start
			p.prune()
		}
	}
	return lost
}

// start records a delivery of the message at offset of partition, fetched
// in generation gen. ok is false when gen no longer assigns the partition
// to this consumer: the message must not be handled, its partition's owner
// reads it again. again reports an offset fetched before in this epoch.
func (t *offsetTracker) start(gen int32, partition int, offset int64) (tk ticket, ok, again bool) {
	p := t.parts[partition]
	if p == nil || !p.owned || p.gen != gen {
		return ticket{}, false, false
	}
	tk = ticket{partition: partition, offset: offset, epoch: p.epoch}
	switch i, found := slices.BinarySearch(p.queue, offset); {
	case offset > p.last:
		p.queue = append(p.queue, offset)
		p.last = offset
	case found, offset < p.committed:
		// A second delivery of a message in the queue (the first may
		// still run), or one already committed.
		again = true
	default:
		p.queue = slices.Insert(p.queue, i, offset)
		again = true
	}
	return tk, true, again
}

// finish records that tk's message is done; label names it in reports.
// advanced reports that the partition's commit position moved. lost
// reports a message this consumer cannot commit: its partition went to
// another member, which is given it again.
func (t *offsetTracker) finish(tk ticket, label string) (advanced, lost bool) {
	p := t.parts[tk.partition]
	if p == nil {
		return false, false
	}
	if p.epoch != tk.epoch {
		// The partition went and came back while it ran.
		return false, tk.offset >= p.committed
	}
	i, found := slices.BinarySearch(p.queue, tk.offset)
	if !found {
		return false, false // committed meanwhile, by a second delivery
	}
	if !p.owned {
		p.queue = slices.Delete(p.queue, i, i+1)
		return false, true
	}
	before := p.position()
	p.done[tk.offset] = label
	return p.position() != before, false
}

// pending returns, for the partitions generation gen assigns to this
// consumer, the commit points not yet committed.
func (t *offsetTracker) pending(gen int32) []commitPoint {
	var cps []commitPoint
	for partition, p := range t.parts {
		if !p.owned || p.gen != gen {
			continue
		}
		if next := p.position(); next > p.committed {
			cps = append(cps, commitPoint{partition: partition, offset: next, epoch: p.epoch})
		}
	}
	return cps
}

// committed records a successful commit of cp, unless the partition
// started a new epoch since.
func (t *offsetTracker) committed(cp commitPoint) {
	p := t.parts[cp.partition]
	if p != nil && p.epoch == cp.epoch && cp.offset > p.committed {
		p.committed = cp.offset
		p.prune()
	}
}

// uncommitted lists the finished messages of owned partitions that are not
// committed.
func (t *offsetTracker) uncommitted() []uncommitted {
	var out []uncommitted
	for partition, p := range t.parts {
		if p.owned {
			out = append(out, p.finished(partition)...)
		}
	}
	return out
}

// unfinished is the number of messages of partition fetched and not
// finished.
func (t *offsetTracker) unfinished(partition int) int {
	p := t.parts[partition]
	if p == nil {
		return 0
	}
	return len(p.queue) - len(p.done)
}

// position is the commit position: the offset after the longest run of
// finished messages at the head of the queue, or -1 if the head is not
// finished.
func (p *partitionOffsets) position() int64 {
	next := int64(-1)
	for _, o := range p.queue {
		if _, ok := p.done[o]; !ok {
			break
		}
		next = o + 1
	}
	return next
}

// prune forgets the offsets below the committed one.
func (p *partitionOffsets) prune() {
	i, _ := slices.BinarySearch(p.queue, p.committed)
	for _, o := range p.queue[:i] {
		delete(p.done, o)
	}
	p.queue = slices.Delete(p.queue, 0, i)
	if len(p.queue) == 0 {
		p.queue = nil // let the backing array go
	}
}

// finished lists the finished messages in the queue.
func (p *partitionOffsets) finished(partition int) []uncommitted {
	var out []uncommitted
	for _, o := range p.queue {
		if label, ok := p.done[o]; ok {
			out = append(out, uncommitted{partition: partition, offset: o, label: label})
		}
	}
	return out
}

// dropDone removes the finished messages from the queue and returns them;
// unfinished ones stay, for finish to report.
func (p *partitionOffsets) dropDone(partition int) []uncommitted {
	out := p.finished(partition)
	p.queue = slices.DeleteFunc(p.queue, func(o int64) bool { _, ok := p.done[o]; return ok })
	clear(p.done)
	return out
}
