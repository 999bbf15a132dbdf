package socketio

import "sync/atomic"

// Hooks are callbacks a Server makes as its connections and rooms change,
// for an observer such as the admin UI (internal/adminui, ADR 0025): what
// Node's admin UI gets from the engine's "connection" and the adapter's
// "join-room"/"leave-room" events. Each may be nil. They run on the
// goroutine of the change, outside the server's locks, and must not block.
type Hooks struct {
	// ClientOpened is called for each new Engine.IO connection.
	ClientOpened func()
	// ClientClosed is called once per Engine.IO connection that closed,
	// with the reason (engineio.Reason*, or this package's).
	ClientClosed func(reason string)
	// RoomJoined is called when socket s joined room (Join, SocketsJoin),
	// never for the socket's own room.
	RoomJoined func(s *Socket, room string)
	// RoomLeft is called when socket s left room by Leave or
	// SocketsLeave. A disconnecting socket leaves its rooms without it:
	// Socket.OnDisconnecting still sees them.
	RoomLeft func(s *Socket, room string)
	// Upgraded is called for each socket of a connection that moved from
	// HTTP long-polling to WebSocket.
	Upgraded func(s *Socket)
}

// SetHooks sets the server's hooks, replacing any set before. Set them
// before serving: changes made earlier are not reported.
func (s *Server) SetHooks(h Hooks) { s.hooks.Store(&h) }

// loadHooks returns the hooks, nil when none were set.
func (s *Server) loadHooks() *Hooks { return s.hooks.Load() }

// OnUpgrade implements engineio.UpgradeReceiver: the Upgraded hook, for
// each socket of the connection.
func (c *client) OnUpgrade() {
	h := c.srv.loadHooks()
	if h == nil || h.Upgraded == nil {
		return
	}
	for _, s := range c.snapshot() {
		h.Upgraded(s)
	}
}

// Counters are running totals of the Socket.IO packets a server received
// from its clients and sent to them, and of their bytes (text and binary
// attachments, without Engine.IO framing), as Node's admin UI counts them.
// A broadcast counts once per recipient.
type Counters struct {
	PacketsIn, BytesIn, PacketsOut, BytesOut uint64
}

// counters are the atomic totals behind Server.Counters.
type counters struct {
	packetsIn, bytesIn, packetsOut, bytesOut atomic.Uint64
}

// Counters returns the server's totals so far.
func (s *Server) Counters() Counters {
	return Counters{
		PacketsIn:  s.counters.packetsIn.Load(),
		BytesIn:    s.counters.bytesIn.Load(),
		PacketsOut: s.counters.packetsOut.Load(),
		BytesOut:   s.counters.bytesOut.Load(),
	}
}

// countOut counts one packet of p sent to n sockets.
func (s *Server) countOut(p *Packet, n int) {
	size := len(p.Text)
	for _, a := range p.Attachments {
		size += len(a)
	}
	s.counters.packetsOut.Add(uint64(n))
	s.counters.bytesOut.Add(uint64(n * size))
}
