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

// streamPos is where a stream's delivery stands: its last Seq, the rooms
// it went to, and the roomBirth of its room as it was then (0: not one
// room hosted on this node).
type streamPos struct {
	seq   int64
	rooms []string
	room  uint64
}

// streamAt is a stream and where it stands (snapshot).
type streamAt struct {
	stream string
	streamPos
}

// snapshot returns every stream remembered and where it stands.
func (m *streamSeqs) snapshot() []streamAt {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]streamAt, 0, len(m.cur)+len(m.prev))
	for s, pos := range m.cur {
		out = append(out, streamAt{s, pos})
	}
	for s, pos := range m.prev {
		if _, ok := m.cur[s]; !ok {
			out = append(out, streamAt{s, pos})
		}
	}
	return out
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
// rooms are the broadcast's, room the roomBirth of its one room on this
// node (0 if none).
func (m *streamSeqs) accept(stream string, seq int64, rooms []string, room uint64) bool {
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
	m.cur[stream] = streamPos{seq: seq, rooms: rooms, room: room}
	return true
}
