package socketio

import "sync"

// defaultStreamsLimit bounds the streams whose last Seq a namespace
// remembers. Repeats come from a publisher retrying seconds later (the
// relay's next round), so only recently active streams need remembering.
const defaultStreamsLimit = 1 << 16

// streamSeqs is the last Seq delivered per Broadcast.Stream, in two
// generations: when the current one holds limit/2 streams it becomes the
// previous one and the older is dropped, so memory stays bounded and
// recent streams are kept. A stream forgotten that way accepts its next
// broadcast whatever its Seq: the bound trades a rare repeat for memory.
type streamSeqs struct {
	mu        sync.Mutex
	limit     int
	cur, prev map[string]int64
}

func (m *streamSeqs) lastLocked(stream string) (int64, bool) {
	if seq, ok := m.cur[stream]; ok {
		return seq, true
	}
	seq, ok := m.prev[stream]
	return seq, ok
}

// last returns stream's last delivered Seq, and whether it is known.
func (m *streamSeqs) last(stream string) (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastLocked(stream)
}

// accept records seq as delivered for stream and reports true, unless
// stream's last delivered Seq is seq or later (a repeat, or late): then
// false. Check and record are one step, so two deliveries of one
// broadcast racing (from the publisher and from a broker) pass once.
func (m *streamSeqs) accept(stream string, seq int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if last, ok := m.lastLocked(stream); ok && seq <= last {
		return false
	}
	if m.cur == nil {
		m.cur = make(map[string]int64)
	}
	if _, ok := m.cur[stream]; !ok && len(m.cur) >= max(m.limit/2, 1) {
		m.prev, m.cur = m.cur, make(map[string]int64)
	}
	m.cur[stream] = seq
	return true
}
