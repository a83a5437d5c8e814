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
// Ownership: the consumer commits a partition's position in a group
// generation that assigns the partition to it. A partition kept from one
// generation to the next keeps what was fetched and finished: its messages
// are fetched again from the committed offset, and a message finished
// before, or by its first delivery while the second runs, is finished. A
// partition that went to another member keeps its queue too: what this
// consumer finishes of it may still be committed, but only where the new
// owner has not got that far (see Consumer.commitAhead). A partition
// that comes back after another member may have had it starts a new epoch;
// tickets of the old one no longer count.
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
	// one the generation started the partition at, a later commit of this
	// consumer, or where a new owner was found to be; -1 if none.
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
// starts at (the group's committed offset, or negative for none).
func (t *offsetTracker) assign(gen int32, assigned map[int]int64) {
	for partition, p := range t.parts {
		if _, ok := assigned[partition]; !ok {
			p.owned = false
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
// advanced reports that the partition's commit position moved (whether the
// partition is still this consumer's or not).
func (t *offsetTracker) finish(tk ticket, label string) (advanced bool) {
	p := t.parts[tk.partition]
	if p == nil || p.epoch != tk.epoch {
		// The partition went and came back while it ran: it is read
		// again from the group's offset.
		return false
	}
	if _, found := slices.BinarySearch(p.queue, tk.offset); !found {
		return false // committed meanwhile, by a second delivery
	}
	before := p.position()
	p.done[tk.offset] = label
	return p.position() != before
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

// revoked returns the commit points of partitions that went to another
// member, where this consumer finished more than it committed.
func (t *offsetTracker) revoked() []commitPoint {
	var cps []commitPoint
	for partition, p := range t.parts {
		if p.owned {
			continue
		}
		if next := p.position(); next > p.committed {
			cps = append(cps, commitPoint{partition: partition, offset: next, epoch: p.epoch})
		}
	}
	return cps
}

// uncommitted lists the finished messages that are not committed.
func (t *offsetTracker) uncommitted() []uncommitted {
	var out []uncommitted
	for partition, p := range t.parts {
		out = append(out, p.finished(partition)...)
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
