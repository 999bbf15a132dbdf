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
	cur, prev map[string]streamPos
}

// streamPos is where a stream's delivery stands: its last Seq, and the
// room its broadcasts go to as it was then (roomBirth; 0: not one room on
// this node).
type streamPos struct {
	seq  int64
	room uint64
}

func (m *streamSeqs) lastLocked(stream string) (streamPos, bool) {
	if pos, ok := m.cur[stream]; ok {
		return pos, true
	}
	pos, ok := m.prev[stream]
	return pos, ok
}

// last returns where stream's delivery stands, and whether it is known.
func (m *streamSeqs) last(stream string) (streamPos, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastLocked(stream)
}

// accept records seq as delivered for stream and reports true, unless
// stream's last delivered Seq is seq or later (a repeat, or late): then
// false. Check and record are one step, so two deliveries of one
// broadcast racing (from the publisher and from a broker) pass once.
// room is the birth of the broadcast's room on this node (roomBirth).
func (m *streamSeqs) accept(stream string, seq int64, room uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if last, ok := m.lastLocked(stream); ok && seq <= last.seq {
		return false
	}
	if m.cur == nil {
		m.cur = make(map[string]streamPos)
	}
	if _, ok := m.cur[stream]; !ok && len(m.cur) >= max(m.limit/2, 1) {
		m.prev, m.cur = m.cur, make(map[string]streamPos)
	}
	m.cur[stream] = streamPos{seq: seq, room: room}
	return true
}
