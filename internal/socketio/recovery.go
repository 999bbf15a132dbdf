package socketio

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"time"
)

// Connection-state recovery (ADR 0023), as Node's socket.io 4.6+ and
// socket.io-client 4.6+ do it: the CONNECT reply carries {sid, pid}; every
// event the server sends to a socket without ack id and not volatile
// carries an offset as its last argument; a socket that loses its transport
// leaves a session (sid, pid, rooms, data) behind for Recovery.Window, and a
// client that reconnects with auth {pid, offset} within it gets its sid, its
// rooms and every event it missed, in order, and socket.recovered.

// Defaults of the recovery bounds.
const (
	// DefaultRecoveryWindow is Node's maxDisconnectionDuration.
	DefaultRecoveryWindow = 2 * time.Minute
	// DefaultRecoveryMaxPackets bounds the broadcasts a namespace keeps for
	// recovery (the memory history).
	DefaultRecoveryMaxPackets = 10_000
	// DefaultRecoveryMaxBytes bounds the bytes of those broadcasts.
	DefaultRecoveryMaxBytes = 16 << 20
	// DefaultRecoveryMaxSessions bounds the sessions of disconnected
	// sockets a server keeps in memory.
	DefaultRecoveryMaxSessions = 100_000
	// recoveryIOTimeout bounds a session store's round trip.
	recoveryIOTimeout = 5 * time.Second
)

// Recovery configures connection-state recovery. The zero value is off.
type Recovery struct {
	// Window is how long a disconnected socket's session is kept, and
	// how far back the broadcasts it missed are kept; 0 turns recovery
	// off.
	Window time.Duration
	// MaxPackets and MaxBytes bound each namespace's memory history of
	// broadcasts (older ones are dropped first; a session whose offset
	// was dropped is not recovered). Defaults DefaultRecoveryMaxPackets
	// and DefaultRecoveryMaxBytes. Unused when the broker is a
	// SessionStore (the history is the broker's).
	MaxPackets, MaxBytes int
	// MaxSessions bounds the sessions kept in memory (the oldest is
	// dropped first). Default DefaultRecoveryMaxSessions. Unused when the
	// broker is a SessionStore.
	MaxSessions int
}

func (r *Recovery) defaults() {
	if r.MaxPackets <= 0 {
		r.MaxPackets = DefaultRecoveryMaxPackets
	}
	if r.MaxBytes <= 0 {
		r.MaxBytes = DefaultRecoveryMaxBytes
	}
	if r.MaxSessions <= 0 {
		r.MaxSessions = DefaultRecoveryMaxSessions
	}
}

// Session is what recovery keeps of a disconnected socket: Node's
// {sid, pid, rooms, data}. Rooms holds the socket's own id first.
type Session struct {
	SID   string
	PID   string
	Rooms []string
	Data  any
}

// SessionStore is implemented by a Broker whose history of broadcasts spans
// nodes (a Redis stream): it keeps sessions where every node finds them, so
// a client recovers on another node. Without it, a server keeps sessions
// and a history per namespace in memory.
type SessionStore interface {
	// PersistSession keeps sess for ttl (a later one of the same pid
	// replaces it).
	PersistSession(ctx context.Context, sess Session, ttl time.Duration) error
	// TakeSession returns pid's session and deletes it in one step (a
	// session is used once); ok is false when there is none.
	TakeSession(ctx context.Context, pid string) (sess Session, ok bool, err error)
	// DropSession deletes pid's session, if any.
	DropSession(ctx context.Context, pid string) error
	// Missed returns the broadcasts of namespace nsp published after
	// offset, in order, each with its Offset; ok is false when offset is
	// not (or no longer) in the history. A Broadcast without Packet is a
	// gap: something was delivered to its rooms that the history does not
	// hold, so a socket it selects cannot be recovered.
	Missed(ctx context.Context, nsp, offset string) (missed []*Broadcast, ok bool, err error)
}

// LiveSessionStore is a SessionStore that also keeps the sessions of
// connected sockets, so that their clients recover on another node when
// this one dies without closing them (SIGKILL). The server writes a
// socket's session at connect, join and leave, and refreshes the TTL of
// all of them in one call per RefreshInterval.
type LiveSessionStore interface {
	SessionStore
	// RefreshSessions sets the TTL of the sessions of pids.
	RefreshSessions(ctx context.Context, pids []string, ttl time.Duration) error
}

// HistoryKeeper may be implemented by a SessionStore broker that keeps a
// shared history only when configured to (the classic Redis broker): when
// KeepsHistory is false, the server keeps sessions and history in memory.
type HistoryKeeper interface {
	KeepsHistory() bool
}

func keepsHistory(broker Broker) bool {
	h, ok := broker.(HistoryKeeper)
	return !ok || h.KeepsHistory()
}

// recoverableReasons are the disconnect reasons that leave a session: the
// transport went away, not the client or the server's decision (Node's
// RECOVERABLE_DISCONNECT_REASONS, less "forced close": here that is the
// server disconnecting a socket, e.g. an expired token). "server shutting
// down" is one: a client of a node being drained recovers on another.
var recoverableReasons = map[string]bool{
	"transport close":      true,
	"transport error":      true,
	"ping timeout":         true,
	"server shutting down": true,
}

// Recoverable reports whether a socket disconnected for reason keeps a
// session for connection-state recovery.
func Recoverable(reason string) bool { return recoverableReasons[reason] }

// recovery is a server's recovery state: the config, and the memory
// sessions when the broker keeps none.
type recovery struct {
	cfg   Recovery
	store SessionStore // the broker's, or the memory one
	live  LiveSessionStore
	mem   *memorySessions // nil when store is the broker's
	now   func() time.Time
}

func newRecovery(cfg Recovery, broker Broker, now func() time.Time) *recovery {
	if cfg.Window <= 0 {
		return nil
	}
	cfg.defaults()
	r := &recovery{cfg: cfg, now: now}
	if st, ok := broker.(SessionStore); ok && keepsHistory(broker) {
		r.store = st
		r.live, _ = broker.(LiveSessionStore)
		return r
	}
	r.mem = &memorySessions{max: cfg.MaxSessions, window: cfg.Window, now: now, byPID: make(map[string]memorySession)}
	return r
}

// brokerHistory reports whether the broker keeps the history (offsets are
// the broker's); otherwise each namespace keeps one in memory.
func (r *recovery) brokerHistory() bool { return r.mem == nil }

// memorySessions are the sessions of disconnected sockets of one server,
// bounded by count and expiring after the window. Their order of arrival
// is their order of expiry (one window for all), so a FIFO finds the
// oldest.
type memorySessions struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	now    func() time.Time
	byPID  map[string]memorySession
	order  []pidAt // arrival order; entries whose session was taken are skipped
}

type memorySession struct {
	sess    Session
	expires time.Time
}

type pidAt struct {
	pid     string
	expires time.Time
}

func (m *memorySessions) put(sess Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.trimLocked(now)
	for len(m.byPID) >= m.max && len(m.order) > 0 {
		m.popLocked()
	}
	exp := now.Add(m.window)
	m.byPID[sess.PID] = memorySession{sess: sess, expires: exp}
	m.order = append(m.order, pidAt{sess.PID, exp})
}

// take returns and deletes pid's session unless it expired.
func (m *memorySessions) take(pid string) (Session, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms, ok := m.byPID[pid]
	if !ok {
		return Session{}, false
	}
	delete(m.byPID, pid)
	if !m.now().Before(ms.expires) {
		return Session{}, false
	}
	return ms.sess, true
}

func (m *memorySessions) drop(pid string) {
	m.mu.Lock()
	delete(m.byPID, pid)
	m.mu.Unlock()
}

func (m *memorySessions) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byPID)
}

// trimLocked drops the expired sessions at the head of the order.
func (m *memorySessions) trimLocked(now time.Time) {
	for len(m.order) > 0 && !now.Before(m.order[0].expires) {
		m.popLocked()
	}
	if len(m.order) == 0 {
		m.order = nil
	}
}

func (m *memorySessions) popLocked() {
	head := m.order[0]
	m.order[0] = pidAt{}
	m.order = m.order[1:]
	if ms, ok := m.byPID[head.pid]; ok && ms.expires.Equal(head.expires) {
		delete(m.byPID, head.pid)
	}
}

// history is a namespace's memory history of recordable broadcasts, in
// offset order, bounded by the window, a count and bytes. Offsets are the
// decimal numbers it assigns, from 1.
type history struct {
	mu      sync.Mutex
	cfg     Recovery
	now     func() time.Time
	epoch   time.Time // entries' times are kept as durations since
	next    uint64    // the next offset
	trimmed uint64    // the highest offset dropped, 0 when none
	// entries[head:] are the kept entries, with consecutive offsets from
	// trimmed+1 (offsets are assigned in order and dropped from the head):
	// an entry's offset is not stored.
	entries  []histEntry
	head     int // entries[head:] are kept
	bytes    int
	maxCount int
}

// histEntry is one recorded event: a broadcast (b), or an event emitted to
// one socket (to, its id; b nil), which keeps no Broadcast, and no Packet
// either unless it has attachments (p): its type and text. A socket's own
// events (the answer to each joinRoom) are most of the history of a server
// whose clients join and idle.
type histEntry struct {
	at   time.Duration // since history.epoch: a time.Time would be 24 bytes
	b    *Broadcast
	p    *Packet
	text []byte
	to   string
	size int32
	typ  PacketType
}

func newHistory(cfg Recovery, now func() time.Time) *history {
	return &history{cfg: cfg, now: now, epoch: now(), next: 1}
}

// entryOverhead is what a history entry costs besides its packet's bytes
// (the entry, the Broadcast and the Packet structs), counted against
// Recovery.MaxBytes.
const entryOverhead = 256

func packetSize(p *Packet) int {
	n := len(p.Text)
	for _, a := range p.Attachments {
		n += len(a)
	}
	return n
}

// add records b and returns its offset.
func (h *history) add(b *Broadcast) string {
	return h.record(histEntry{b: b, size: int32(packetSize(b.Packet) + entryOverhead)})
}

// addTo records p, emitted to the socket whose id is to alone, and returns
// its offset: after gives it back as a broadcast to that socket's room.
func (h *history) addTo(p *Packet, to string) string {
	e := histEntry{to: to, size: int32(packetSize(p) + entryOverhead)}
	if len(p.Attachments) > 0 {
		e.p = p
	} else {
		e.typ, e.text = p.Type, p.Text
	}
	return h.record(e)
}

func (h *history) record(e histEntry) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	offset := h.next
	e.at = now.Sub(h.epoch)
	h.next++
	h.entries = append(h.entries, e)
	h.bytes += int(e.size)
	h.trimLocked(now)
	return strconv.FormatUint(offset, 10)
}

// offsetAt returns the offset of h.entries[i] (i >= h.head).
func (h *history) offsetAt(i int) uint64 { return h.trimmed + 1 + uint64(i-h.head) }

func (h *history) trimLocked(now time.Time) {
	cutoff := now.Sub(h.epoch) - h.cfg.Window
	for h.head < len(h.entries) {
		e := &h.entries[h.head]
		kept := len(h.entries) - h.head
		if kept <= h.cfg.MaxPackets && h.bytes <= h.cfg.MaxBytes && e.at > cutoff {
			break
		}
		h.trimmed = h.offsetAt(h.head)
		h.bytes -= int(e.size)
		*e = histEntry{}
		h.head++
	}
	// Compact when the dropped head is most of the array.
	if h.head > 1024 && h.head*2 > len(h.entries) {
		n := copy(h.entries, h.entries[h.head:])
		clear(h.entries[n:])
		h.entries = h.entries[:n]
		h.head = 0
	}
}

// after returns the broadcasts after offset, each with its Offset (an
// event emitted to one socket as a broadcast of namespace nsp to its
// room), and the last offset assigned; ok is false when offset is not one
// the history can answer for (never assigned, or entries after it were
// dropped).
func (h *history) after(nsp, offset string) (out []*Broadcast, last string, ok bool) {
	n, err := strconv.ParseUint(offset, 10, 64)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.trimLocked(h.now())
	if err != nil || n < h.trimmed || n >= h.next || n == 0 {
		return nil, "", false
	}
	for i := h.head; i < len(h.entries); i++ {
		e := &h.entries[i]
		if offset := h.offsetAt(i); offset > n {
			var c Broadcast
			if e.b != nil {
				c = *e.b
			} else {
				p := e.p
				if p == nil {
					p = &Packet{Type: e.typ, Namespace: nsp, Text: e.text}
				}
				c = Broadcast{Namespace: nsp, Packet: p, Rooms: []string{e.to}}
			}
			c.Offset = strconv.FormatUint(offset, 10)
			out = append(out, &c)
		}
	}
	return out, strconv.FormatUint(h.next-1, 10), true
}

func (h *history) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.entries) - h.head
}

// offsetAfter reports whether offset a comes after b. Offsets are
// "<n>" (the memory history's) or "<ms>-<seq>" (a Redis stream entry id);
// each part compares as a number. An offset that does not parse is never
// after anything.
func offsetAfter(a, b string) bool {
	am, as, ok1 := parseOffset(a)
	bm, bs, ok2 := parseOffset(b)
	if !ok1 || !ok2 {
		return false
	}
	return am > bm || (am == bm && as > bs)
}

func parseOffset(o string) (uint64, uint64, bool) {
	ms, seq := o, ""
	if i := bytes.IndexByte([]byte(o), '-'); i >= 0 {
		ms, seq = o[:i], o[i+1:]
	}
	m, err := strconv.ParseUint(ms, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if seq == "" {
		return m, 0, true
	}
	s, err := strconv.ParseUint(seq, 10, 64)
	return m, s, err == nil
}

// Recordable reports whether a broadcast is kept for recovery and gets an
// offset: an event without ack id (every Broadcast has none) that is not
// volatile.
func Recordable(b *Broadcast) bool { return recordable(b) }

func recordable(b *Broadcast) bool {
	return !b.Flags.Volatile && (b.Packet.Type == PacketEvent || b.Packet.Type == PacketBinaryEvent)
}

// withOffset returns p with offset appended to its arguments (encoded as a
// JSON string before the closing bracket): one copy of the text per
// broadcast, the attachments shared.
func (p *Packet) withOffset(offset string) *Packet {
	t := p.Text
	if len(t) == 0 || t[len(t)-1] != ']' {
		return p
	}
	text := make([]byte, 0, len(t)+len(offset)+3)
	text = append(text, t[:len(t)-1]...)
	if text[len(text)-1] != '[' {
		text = append(text, ',')
	}
	text = strconv.AppendQuote(text, offset) // offsets are digits and '-'
	text = append(text, ']')
	return &Packet{Type: p.Type, Namespace: p.Namespace, Text: text, Attachments: p.Attachments, event: p.event}
}

// selects reports whether a socket whose rooms (its own id among them) are
// rooms gets a broadcast to b's rooms except b's except.
func selects(rooms []string, b *Broadcast) bool {
	for _, r := range b.Except {
		if containsString(rooms, r) {
			return false
		}
	}
	if len(b.Rooms) == 0 {
		return true
	}
	for _, r := range b.Rooms {
		if containsString(rooms, r) {
			return true
		}
	}
	return false
}

// pendingRecovery is a socket being recovered: not yet in the namespace's
// rooms, it gets what is delivered meanwhile in buf, sent after the missed
// events (those the history already gave are dropped by offset).
type pendingRecovery struct {
	rooms []string // its own id first
	buf   []*Packet
	offs  []string
	seqs  []streamSeq // each buffered broadcast's Stream and Seq
}

// streamSeq is a broadcast's place in its ordered stream (Broadcast.Stream,
// Seq); the zero value for a broadcast of no stream.
type streamSeq struct {
	stream string
	seq    int64
}

// replayed is what one recovery has sent of each stream: a broadcast
// republished by the relay (at-least-once, ADR 0014) is in a broker's
// history twice, under two offsets, and a recovering client gets its Seq
// once.
type replayed map[string]int64

// first reports whether ss is the first of its Seq (or later) sent in this
// replay, and records it. Broadcasts of no stream always are.
func (r replayed) first(ss streamSeq) bool {
	if ss.stream == "" {
		return true
	}
	if last, ok := r[ss.stream]; ok && ss.seq <= last {
		return false
	}
	r[ss.stream] = ss.seq
	return true
}

// recoverPending adds the broadcasts that select a recovering socket to
// its buffer. Needs n.mu read-locked (the buffer has its own lock).
func (n *Namespace) bufferPendingLocked(b *Broadcast, p *Packet, offset string) {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	for _, pr := range n.pending {
		if selects(pr.rooms, b) {
			pr.buf = append(pr.buf, p)
			pr.offs = append(pr.offs, offset)
			pr.seqs = append(pr.seqs, streamSeq{b.Stream, b.Seq})
		}
	}
}
