package socketio

import (
	"context"
	"sync"
	"sync/atomic"
)

// Namespace is a Socket.IO namespace ("/", "/admin"...): its middleware,
// connection handlers, and this node's sockets and rooms. What crosses to
// other nodes goes through the server's Broker (broker.go); the namespace's
// side of that seam is local.go.
type Namespace struct {
	name   string
	server *Server

	// mu guards the sockets and the room index. A socket's joined rooms
	// are kept twice, in rooms (room -> members, for broadcasts) and in
	// Socket.rooms (for leaving them all), both under mu. The room named
	// by a socket's id is implicit: sockets holds it, at no cost.
	mu      sync.RWMutex
	sockets map[string]*Socket
	rooms   map[string]map[*Socket]struct{}
	// roomBirth numbers each room when its first member joins (from
	// births), and forgets it with its last member: a stream's gap is
	// filled only in a room hosted here without a break (local.go).
	roomBirth map[string]uint64
	births    uint64

	hmu    sync.RWMutex // the handlers below
	mws    []func(s *Socket) error
	onConn []func(s *Socket)
	onSSE  []serverSideHandler
	admits []func(e *Event) bool
	// onEvent and onDisc are handlers of every socket (OnEvent,
	// OnDisconnect): one list for the namespace, not one per socket.
	onEvent []namedHandler
	onDisc  []func(s *Socket, reason string)

	// history keeps the recordable broadcasts for connection-state
	// recovery when the broker keeps none (recovery.go); nil otherwise.
	history *history
	// pending are the sockets being recovered (recovery.go), under pmu;
	// npending counts them, so a broadcast looks only when there are.
	pmu      sync.Mutex
	pending  map[*Socket]*pendingRecovery
	npending atomic.Int32
	// keepRoom filters the rooms of a recovered session (nil: all kept).
	keepRoom func(s *Socket, room string) bool
	// streams is the last Seq delivered per Broadcast.Stream; streamMu
	// makes a stream's check and fan-out one step (local.go).
	streams  streamSeqs
	streamMu sync.Mutex
	// gapFiller gives the broadcasts of a stream this node missed
	// (FillStreamGaps); nil: a gap is delivered as it is.
	gapFiller atomic.Pointer[GapFiller]
	// nextAck numbers the ack ids of the namespace's packets: one counter
	// for every socket, as Node's, so one broadcast asking for acks has
	// one id (and one encoding) for every recipient.
	nextAck atomic.Int64
}

type serverSideHandler struct {
	event string
	fn    func(args []any, ack func(reply any))
}

func newNamespace(name string, srv *Server) *Namespace {
	n := &Namespace{
		name:    name,
		server:  srv,
		sockets: make(map[string]*Socket),
		rooms:   make(map[string]map[*Socket]struct{}),
		streams: streamSeqs{limit: defaultStreamsLimit},

		roomBirth: make(map[string]uint64),
	}
	if r := srv.recovery; r != nil && !r.brokerHistory() {
		n.history = newHistory(r.cfg, srv.cfg.Now)
	}
	return n
}

// GapFiller returns the broadcasts of stream after Seq after and before
// Seq before (before 0: up to the newest), in Seq order, from where the
// publisher keeps them (an event log); those it cannot give it leaves out.
// It runs on the delivering goroutine (a broker's reader), so it should
// bound its own wait.
type GapFiller func(stream string, after, before int64) []*Broadcast

// FillStreamGaps makes the namespace ask fill for what a stream's
// broadcast skipped (Broadcast.Stream, BroadcastOperator.Sequenced): when
// this node delivered Seq 6 of a stream last and Seq 9 arrives, 7 and 8
// are asked for and delivered first. Without it (the default) 9 is
// delivered as it is. Set it before the namespace delivers.
func (n *Namespace) FillStreamGaps(fill GapFiller) {
	if fill == nil {
		n.gapFiller.Store(nil)
		return
	}
	n.gapFiller.Store(&fill)
}

// Name returns the namespace name, e.g. "/".
func (n *Namespace) Name() string { return n.name }

// Server returns the server n belongs to.
func (n *Namespace) Server() *Server { return n.server }

// Use adds a connection middleware; middleware runs in order before a socket
// connects. An error refuses the connection with CONNECT_ERROR: v5
// {"message": err.Error(), "data": err.Data()} (data when the error has a
// Data() any method), v4 an ERROR packet carrying the data, else the message.
// Middleware may read the Handshake and call Set.
func (n *Namespace) Use(mw func(s *Socket) error) {
	n.hmu.Lock()
	n.mws = append(n.mws, mw)
	n.hmu.Unlock()
}

// OnConnection adds a handler called for each connected socket, before any of
// its events are dispatched; it is where Socket.On handlers are registered.
func (n *Namespace) OnConnection(fn func(s *Socket)) {
	n.hmu.Lock()
	n.onConn = append(n.onConn, fn)
	n.hmu.Unlock()
}

// OnEvent adds a handler for event on every socket of the namespace, run
// after the socket's own (Socket.OnAny, Socket.On). It is what an
// application that handles an event the same way on every socket registers
// once, instead of Socket.On in each connection handler: a socket then
// keeps no handler of its own.
func (n *Namespace) OnEvent(event string, fn func(e *Event)) {
	n.hmu.Lock()
	n.onEvent = append(n.onEvent, namedHandler{event, fn})
	n.hmu.Unlock()
}

// OnDisconnect adds a handler called for every socket of the namespace
// that disconnects, once it has left its rooms, after the socket's own
// (Socket.OnDisconnect).
func (n *Namespace) OnDisconnect(fn func(s *Socket, reason string)) {
	n.hmu.Lock()
	n.onDisc = append(n.onDisc, fn)
	n.hmu.Unlock()
}

// OnServerSideEmit adds a handler of event for the ServerSideEmit of other
// nodes (Node's io.on(event) on the server). ack is nil when the emitting
// node asked for no reply; otherwise its first call answers it (one reply
// per node).
func (n *Namespace) OnServerSideEmit(event string, fn func(args []any, ack func(reply any))) {
	n.hmu.Lock()
	n.onSSE = append(n.onSSE, serverSideHandler{event, fn})
	n.hmu.Unlock()
}

// AdmitEvents adds a check run for every event a socket of the namespace
// receives, before the socket's OnAny and On handlers, in their order
// (one at a time per connection). An event a check refuses (false) reaches
// no later check and no handler; the check answers the client itself if
// it should (e.Ack, an error event). It is where rate limits go: Node's
// socket.use, for a whole namespace.
func (n *Namespace) AdmitEvents(check func(e *Event) bool) {
	n.hmu.Lock()
	n.admits = append(n.admits, check)
	n.hmu.Unlock()
}

// admit runs the AdmitEvents checks on e.
func (n *Namespace) admit(e *Event) bool {
	n.hmu.RLock()
	checks := n.admits
	n.hmu.RUnlock()
	for _, check := range checks {
		if !check(e) {
			return false
		}
	}
	return true
}

func (n *Namespace) runMiddleware(s *Socket) error {
	n.hmu.RLock()
	mws := n.mws
	n.hmu.RUnlock()
	for _, mw := range mws {
		if err := mw(s); err != nil {
			return err
		}
	}
	return nil
}

// add registers a connected socket in the namespace (and so in its own room).
func (n *Namespace) add(s *Socket) {
	s.state.Store(stateConnected)
	n.mu.Lock()
	n.sockets[s.id] = s
	n.mu.Unlock()
}

func (n *Namespace) connected(s *Socket) {
	n.hmu.RLock()
	fns := n.onConn
	n.hmu.RUnlock()
	for _, fn := range fns {
		fn(s)
	}
}

// remove takes s out of its rooms and the namespace.
func (n *Namespace) remove(s *Socket) {
	n.mu.Lock()
	for _, r := range s.rooms {
		n.delMemberLocked(r, s)
	}
	s.rooms = nil
	if n.sockets[s.id] == s {
		delete(n.sockets, s.id)
	}
	n.mu.Unlock()
}

// join adds s to rooms, if s is still in the namespace, keeps its live
// session current (recovery) and tells the server's RoomJoined hook of each
// room s was not in.
func (n *Namespace) join(s *Socket, rooms []string) {
	h := n.server.loadHooks()
	hooked := h != nil && h.RoomJoined != nil
	n.mu.Lock()
	joined, ok := n.joinLocked(s, rooms, hooked)
	n.mu.Unlock()
	if !ok {
		return
	}
	n.server.recovery.keepLive(s)
	for _, r := range joined {
		h.RoomJoined(s, r)
	}
}

// joinLocked is join with n.mu locked; false when s is not in the
// namespace. With record, it returns the rooms s was not in before.
func (n *Namespace) joinLocked(s *Socket, rooms []string, record bool) (joined []string, ok bool) {
	if n.sockets[s.id] != s {
		return nil, false // not connected (yet, or any more)
	}
	for _, r := range rooms {
		if r == s.id || containsString(s.rooms, r) {
			continue // implicit, or joined already
		}
		if s.rooms == nil {
			s.rooms = make([]string, 0, len(rooms))
		}
		s.rooms = append(s.rooms, r)
		set := n.rooms[r]
		if set == nil {
			set = make(map[*Socket]struct{})
			n.rooms[r] = set
			n.births++
			n.roomBirth[r] = n.births
		}
		set[s] = struct{}{}
		if record {
			joined = append(joined, r)
		}
	}
	return joined, true
}

// leave removes s from room, keeps its live session current (recovery),
// and tells the server's RoomLeft hook if s was in it.
func (n *Namespace) leave(s *Socket, room string) {
	n.mu.Lock()
	left := n.leaveLocked(s, room)
	n.mu.Unlock()
	if !left {
		return
	}
	n.server.recovery.keepLive(s)
	if h := n.server.loadHooks(); h != nil && h.RoomLeft != nil {
		h.RoomLeft(s, room)
	}
}

func (n *Namespace) leaveLocked(s *Socket, room string) bool {
	for i, r := range s.rooms {
		if r == room {
			last := len(s.rooms) - 1
			s.rooms[i] = s.rooms[last]
			s.rooms[last] = ""
			s.rooms = s.rooms[:last]
			if last == 0 {
				s.rooms = nil
			}
			n.delMemberLocked(room, s)
			return true
		}
	}
	return false
}

func (n *Namespace) delMemberLocked(room string, s *Socket) {
	if set := n.rooms[room]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(n.rooms, room)
			delete(n.roomBirth, room)
		}
	}
}

// FilterRecoveredRooms sets the check a recovered socket's rooms go
// through (connection-state recovery, ADR 0023): a room keep refuses is
// not joined again, and the missed broadcasts of that room are not
// replayed. It runs after the middleware, so it sees what the middleware
// Set (the current token's claims). Without it every room is kept, as
// Node does.
func (n *Namespace) FilterRecoveredRooms(keep func(s *Socket, room string) bool) {
	n.hmu.Lock()
	n.keepRoom = keep
	n.hmu.Unlock()
}

// roomBirthOf returns the roomBirth of b's room when b goes to one room
// that is hosted here, else 0.
func (n *Namespace) roomBirthOf(b *Broadcast) uint64 {
	if len(b.Rooms) != 1 {
		return 0
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.roomBirth[b.Rooms[0]]
}

// socketRooms returns the rooms of s, its own id first; none once it left
// the namespace.
func (n *Namespace) socketRooms(s *Socket) []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.sockets[s.id] != s {
		return nil
	}
	out := make([]string, 0, 1+len(s.rooms))
	out = append(out, s.id)
	return append(out, s.rooms...)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Socket returns the connected socket with id, or nil.
func (n *Namespace) Socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

// Sockets returns the connected sockets of this node.
func (n *Namespace) Sockets() []*Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]*Socket, 0, len(n.sockets))
	for _, s := range n.sockets {
		out = append(out, s)
	}
	return out
}

// SocketsLen returns the number of connected sockets of this node.
func (n *Namespace) SocketsLen() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

// To returns an operator broadcasting to the sockets in any of rooms.
func (n *Namespace) To(rooms ...string) *BroadcastOperator {
	return (&BroadcastOperator{nsp: n}).To(rooms...)
}

// In is an alias of To.
func (n *Namespace) In(rooms ...string) *BroadcastOperator { return n.To(rooms...) }

// Except returns an operator broadcasting to every socket not in rooms.
func (n *Namespace) Except(rooms ...string) *BroadcastOperator {
	return (&BroadcastOperator{nsp: n}).Except(rooms...)
}

// Local returns an operator acting on this node's sockets only (Node's
// io.local): its broadcasts are not published to other nodes.
func (n *Namespace) Local() *BroadcastOperator { return (&BroadcastOperator{nsp: n}).Local() }

// Emit sends an event to every socket of the namespace, on every node.
func (n *Namespace) Emit(event string, args ...any) error {
	return (&BroadcastOperator{nsp: n}).Emit(event, args...)
}

// DisconnectSockets disconnects every socket of the namespace, on every
// node (see Socket.Disconnect).
func (n *Namespace) DisconnectSockets(ctx context.Context, close bool) error {
	return (&BroadcastOperator{nsp: n}).DisconnectSockets(ctx, close)
}

// FetchSockets describes every socket of the namespace, on every node.
func (n *Namespace) FetchSockets(ctx context.Context) ([]SocketInfo, error) {
	return (&BroadcastOperator{nsp: n}).FetchSockets(ctx)
}
