package socketio

import "sync"

// Namespace is a Socket.IO namespace ("/", "/admin"...): its middleware,
// connection handlers, connected sockets and room adapter.
type Namespace struct {
	name    string
	server  *Server
	adapter Adapter

	mu      sync.RWMutex
	sockets map[string]*Socket
	mws     []func(s *Socket) error
	onConn  []func(s *Socket)
	admits  []func(e *Event) bool
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
	n.mu.Lock()
	n.mws = append(n.mws, mw)
	n.mu.Unlock()
}

// OnConnection adds a handler called for each connected socket, before any of
// its events are dispatched; it is where Socket.On handlers are registered.
func (n *Namespace) OnConnection(fn func(s *Socket)) {
	n.mu.Lock()
	n.onConn = append(n.onConn, fn)
	n.mu.Unlock()
}

// AdmitEvents adds a check run for every event a socket of the namespace
// receives, before the socket's OnAny and On handlers, in their order
// (one at a time per connection). An event a check refuses (false) reaches
// no later check and no handler; the check answers the client itself if
// it should (e.Ack, an error event). It is where rate limits go: Node's
// socket.use, for a whole namespace.
func (n *Namespace) AdmitEvents(check func(e *Event) bool) {
	n.mu.Lock()
	n.admits = append(n.admits, check)
	n.mu.Unlock()
}

// admit runs the AdmitEvents checks on e.
func (n *Namespace) admit(e *Event) bool {
	n.mu.RLock()
	checks := n.admits
	n.mu.RUnlock()
	for _, check := range checks {
		if !check(e) {
			return false
		}
	}
	return true
}

func (n *Namespace) runMiddleware(s *Socket) error {
	n.mu.RLock()
	mws := n.mws
	n.mu.RUnlock()
	for _, mw := range mws {
		if err := mw(s); err != nil {
			return err
		}
	}
	return nil
}

// add registers a connected socket in the namespace and its own room.
func (n *Namespace) add(s *Socket) {
	s.state.Store(stateConnected)
	n.mu.Lock()
	n.sockets[s.id] = s
	n.mu.Unlock()
	n.adapter.AddAll(s.id, []string{s.id})
}

func (n *Namespace) connected(s *Socket) {
	n.mu.RLock()
	fns := n.onConn
	n.mu.RUnlock()
	for _, fn := range fns {
		fn(s)
	}
}

func (n *Namespace) remove(s *Socket) {
	n.mu.Lock()
	if n.sockets[s.id] == s {
		delete(n.sockets, s.id)
	}
	n.mu.Unlock()
}

// Socket returns the connected socket with id, or nil.
func (n *Namespace) Socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

// Sockets returns the connected sockets of this process.
func (n *Namespace) Sockets() []*Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]*Socket, 0, len(n.sockets))
	for _, s := range n.sockets {
		out = append(out, s)
	}
	return out
}

// SocketsLen returns the number of connected sockets of this process.
func (n *Namespace) SocketsLen() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

// Adapter returns the namespace's room adapter.
func (n *Namespace) Adapter() Adapter { return n.adapter }

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

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error {
	return (&BroadcastOperator{nsp: n}).Emit(event, args...)
}

// DisconnectSockets disconnects every socket of the namespace (see
// Socket.Disconnect).
func (n *Namespace) DisconnectSockets(close bool) {
	(&BroadcastOperator{nsp: n}).DisconnectSockets(close)
}
