package socketio

import (
	"sync"
	"sync/atomic"
)

// localSide is a namespace as its broker sees it: the Local of the seam
// (broker.go). It is a defined type over Namespace, so handing it to the
// broker costs nothing and the Namespace's own methods stay the
// application's.
type localSide Namespace

var (
	_ Local    = (*localSide)(nil)
	_ Resyncer = (*localSide)(nil)
)

func (n *Namespace) local() *localSide { return (*localSide)(n) }
func (l *localSide) ns() *Namespace    { return (*Namespace)(l) }

// Name implements Local.
func (l *localSide) Name() string { return l.name }

// HasRoom implements Local.
func (l *localSide) HasRoom(room string) bool {
	n := l.ns()
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.rooms[room] != nil || n.sockets[room] != nil
}

// Deliver implements Local.
func (l *localSide) Deliver(b *Broadcast) { l.ns().deliver(b, b.Offset) }

// deliver is the namespace's local delivery, the one way a broadcast
// reaches this node's sockets, whether this node published it (after
// Broker.Publish) or another did (Local.Deliver). It drops a repeat of a
// stream's broadcast, resolves the recipients under the read lock and hands
// the packet to the engine once for all of them (fanoutBroadcast, which
// also adds recovery's offsets).
func (n *Namespace) deliver(b *Broadcast, offset string) {
	if b.Stream != "" {
		// One stream delivery at a time on this node, so that a gap
		// filled on one goroutine and the next broadcast on another reach
		// the sockets in Seq order. Sequenced broadcasts come from one
		// goroutine in the steady state (the relay's or a broker's
		// reader): the lock is uncontended then.
		n.streamMu.Lock()
		defer n.streamMu.Unlock()
		room := n.roomBirthOf(b)
		n.fillGap(b.Stream, b.Seq, room)
		if !n.streams.accept(b.Stream, b.Seq, b.Rooms, room) {
			return
		}
	}
	n.fanoutBroadcast(b, offset)
}

// fillGap delivers the broadcasts of stream this node missed before Seq
// before (0: up to the newest): when this node delivered one of the stream
// and the room it went to has been hosted here without a break since then
// (room, its roomBirth, is the same), it asks the namespace's gap filler
// (FillStreamGaps) for those after the last it delivered and delivers them
// in order. A broker that loses messages (Redis pub/sub while a node
// subscribes again, ADR 0027) so costs a stream's clients nothing but a
// delay. A room emptied meanwhile is not filled: its sockets joined after
// those broadcasts. What the filler cannot give stays missing. Needs
// n.streamMu.
func (n *Namespace) fillGap(stream string, before int64, room uint64) {
	fill := n.gapFiller.Load()
	if fill == nil || room == 0 {
		return
	}
	last, ok := n.streams.last(stream)
	if !ok || last.room != room || (before != 0 && before <= last.seq+1) {
		return
	}
	for _, m := range (*fill)(stream, last.seq, before) {
		if m.Stream == stream && (before == 0 || m.Seq < before) && n.streams.accept(m.Stream, m.Seq, m.Rooms, room) {
			n.fanoutBroadcast(m, m.Offset)
		}
	}
}

// ResyncStreams implements Resyncer.
func (l *localSide) ResyncStreams() { l.ns().resyncStreams() }

// resyncStreams fills, for every stream whose room this node has hosted
// without a break since it last delivered one of its broadcasts, what was
// published after that (the gap filler, FillStreamGaps, up to the newest).
// A broker calls it when it may have lost broadcasts with nothing after
// them to show the gap: once it is subscribed again after an outage. It
// reads the filler once per such stream: call it on a goroutine of its
// own.
func (n *Namespace) resyncStreams() {
	if n.gapFiller.Load() == nil {
		return
	}
	for _, st := range n.streams.snapshot() {
		if len(st.rooms) != 1 {
			continue
		}
		n.streamMu.Lock()
		n.mu.RLock()
		room := n.roomBirth[st.rooms[0]]
		n.mu.RUnlock()
		n.fillGap(st.stream, 0, room)
		n.streamMu.Unlock()
	}
}

// fanoutBroadcast hands b's packet to b's recipients on this node.
//
// With connection-state recovery on (ADR 0023), an EVENT that is not
// volatile gets its offset (the broker's, or one the namespace's memory
// history assigns when offset is "", recording it) appended to its
// arguments, once for every recipient; a socket being recovered gets it in
// its buffer, in the same read-locked step as the selection. A broadcast
// filled from the log (fillGap) comes with no offset and gets one here too.
func (n *Namespace) fanoutBroadcast(b *Broadcast, offset string) {
	p := b.Packet
	if n.server.recovery != nil && recordable(b) {
		if offset == "" && n.history != nil {
			offset = n.history.add(b)
		}
		if offset != "" {
			p = p.withOffset(offset)
		}
	}
	rp := recipientPool.Get().(*[]*Socket)
	n.mu.RLock()
	list := n.selectSocketsLocked(Selector{Rooms: b.Rooms, Except: b.Except}, (*rp)[:0])
	if n.npending.Load() > 0 {
		n.bufferPendingLocked(b, p, offset)
	}
	n.mu.RUnlock()
	n.server.fanout(list, p)
	clear(list)
	*rp = list[:0]
	recipientPool.Put(rp)
}

// recipientPool holds slices of sockets, so a broadcast allocates nothing
// per recipient.
var recipientPool = sync.Pool{New: func() any { s := make([]*Socket, 0, 64); return &s }}

// selectSockets appends the sockets sel selects to list, each once.
func (n *Namespace) selectSockets(sel Selector, list []*Socket) []*Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.selectSocketsLocked(sel, list)
}

// selectSocketsLocked is selectSockets with n.mu read-locked.
func (n *Namespace) selectSocketsLocked(sel Selector, list []*Socket) []*Socket {
	except := sel.Except
	switch len(sel.Rooms) {
	case 0:
		for _, s := range n.sockets {
			if len(except) == 0 || !inAny(s, except) {
				list = append(list, s)
			}
		}
	case 1:
		list = n.appendMembersLocked(list, sel.Rooms[0], except, nil)
	default:
		seen := make(map[*Socket]struct{})
		for _, r := range sel.Rooms {
			list = n.appendMembersLocked(list, r, except, seen)
		}
	}
	return list
}

// appendMembersLocked appends the members of room (the joined ones and
// the socket whose id it is) that are in none of except and not in seen
// (when seen is not nil, it records them). Needs n.mu read-locked.
func (n *Namespace) appendMembersLocked(list []*Socket, room string, except []string, seen map[*Socket]struct{}) []*Socket {
	add := func(s *Socket) {
		if seen != nil {
			if _, dup := seen[s]; dup {
				return
			}
			seen[s] = struct{}{}
		}
		if len(except) == 0 || !inAny(s, except) {
			list = append(list, s)
		}
	}
	for s := range n.rooms[room] {
		add(s)
	}
	if s := n.sockets[room]; s != nil {
		add(s)
	}
	return list
}

// inAny reports whether s is in any of rooms. Needs n.mu read-locked
// (s.rooms).
func inAny(s *Socket, rooms []string) bool {
	for _, r := range rooms {
		if r == s.id || containsString(s.rooms, r) {
			return true
		}
	}
	return false
}

// Rooms implements Local: the joined rooms and the sockets' own rooms.
func (l *localSide) Rooms() []string {
	n := l.ns()
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]string, 0, len(n.rooms)+len(n.sockets))
	for r := range n.rooms {
		out = append(out, r)
	}
	for id := range n.sockets {
		if _, dup := n.rooms[id]; !dup {
			out = append(out, id)
		}
	}
	return out
}

// FetchSockets implements Local.
func (l *localSide) FetchSockets(sel Selector) []SocketInfo {
	n := l.ns()
	list := n.selectSockets(sel, nil)
	out := make([]SocketInfo, 0, len(list))
	for _, s := range list {
		rooms := n.socketRooms(s)
		if rooms == nil {
			continue // gone meanwhile
		}
		hs := s.Handshake()
		hs.Auth = map[string]any{}
		out = append(out, SocketInfo{ID: s.id, Handshake: hs, Rooms: rooms, Data: s.Data()})
	}
	return out
}

// AddSockets implements Local.
func (l *localSide) AddSockets(sel Selector, rooms []string) {
	n := l.ns()
	for _, s := range n.selectSockets(sel, nil) {
		n.join(s, rooms)
	}
}

// DelSockets implements Local.
func (l *localSide) DelSockets(sel Selector, rooms []string) {
	n := l.ns()
	for _, s := range n.selectSockets(sel, nil) {
		for _, r := range rooms {
			n.leave(s, r)
		}
	}
}

// DisconnectSockets implements Local.
func (l *localSide) DisconnectSockets(sel Selector, close bool) {
	for _, s := range l.ns().selectSockets(sel, nil) {
		s.Disconnect(close)
	}
}

// ServerSideEmit implements Local. The handlers run on the caller's (the
// broker's) goroutine, in the order they were added.
func (l *localSide) ServerSideEmit(event string, args []any, ack func(reply any)) {
	n := l.ns()
	n.hmu.RLock()
	hs := n.onSSE
	n.hmu.RUnlock()
	var once func(reply any)
	if ack != nil {
		var done atomic.Bool
		once = func(reply any) {
			if done.CompareAndSwap(false, true) {
				ack(reply)
			}
		}
	}
	for _, h := range hs {
		if h.event == event {
			h.fn(args, once)
		}
	}
}

// BroadcastWithAck implements Local: the packet gets an ack id of this
// namespace's (one for every recipient, so it is still encoded once), each
// recipient waits for its ack under that id, and onCount is told how many
// were asked before any is sent.
func (l *localSide) BroadcastWithAck(b *Broadcast, onCount func(n int), onAck func(args []any)) {
	n := l.ns()
	id := n.nextAck.Add(1) - 1
	p, err := b.Packet.withAckID(id)
	if err != nil {
		n.server.log.Error("socketio: broadcast with ack", "nsp", n.name, "err", err)
		onCount(0)
		return
	}
	list := n.selectSockets(Selector{Rooms: b.Rooms, Except: b.Except}, nil)
	asked := list[:0]
	for _, s := range list {
		if s.addAck(id, func(args []any, err error) {
			if err == nil {
				onAck(args)
			}
		}) {
			asked = append(asked, s)
		}
	}
	onCount(len(asked))
	n.server.fanout(asked, p)
}
