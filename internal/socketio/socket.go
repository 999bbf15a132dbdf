package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// ErrDisconnected is returned when emitting on, or waiting for an ack from, a
// socket that is not (or no longer) connected.
var ErrDisconnected = errors.New("socketio: socket disconnected")

// Handshake is what a socket was connected with.
type Handshake struct {
	// Auth is the v5 CONNECT payload (socket.io-client's auth option); for
	// v4 clients the query of the namespace in CONNECT, and for the
	// automatic "/" connection an empty map, as Node does (the credentials
	// of a 2.x client are in Query). Never nil.
	//
	// It is there for middleware and OnConnection handlers, which read
	// what they need of it (and Set what they keep); the socket does not
	// keep it after them, and later calls see an empty map, so a client
	// cannot make the server hold its CONNECT payload for the socket's
	// life. Middleware and handlers share one map: a change is seen by the
	// next one.
	Auth     map[string]any
	Query    url.Values  // the Engine.IO handshake request's query
	URL      string      // the handshake request's path and query
	Header   http.Header // the handshake request's headers
	Address  string      // the handshake request's RemoteAddr
	Time     time.Time   // when the socket was created
	Protocol int         // Engine.IO protocol: 4 (socket.io-client 3/4), 3 (2.x)
	Secure   bool        // the handshake came over TLS
}

// Event is an event received from a client.
type Event struct {
	Name string
	// Args are decoded with encoding/json into any: objects map[string]any,
	// arrays []any, numbers float64; binary attachments are []byte.
	Args []any
	// Ack answers the client's acknowledgement callback (ACK, or BINARY_ACK
	// when an argument holds []byte); nil if the client asked for none.
	// Only the first call sends.
	Ack func(args ...any) error
	// Socket is the socket the event came from.
	Socket *Socket
}

// Unmarshal decodes Args[i] into v (through JSON; []byte become base64 text,
// which json.Unmarshal turns back into a []byte field).
func (e *Event) Unmarshal(i int, v any) error {
	if i < 0 || i >= len(e.Args) {
		return fmt.Errorf("socketio: event %q has no argument %d", e.Name, i)
	}
	b, err := json.Marshal(e.Args[i])
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

const (
	statePending int32 = iota
	stateConnected
	stateClosing
	stateClosed
)

type keyValue struct {
	key string
	v   any
}

type namedHandler struct {
	event string
	fn    func(e *Event)
}

// Socket is a client's connection to one namespace.
type Socket struct {
	id      string
	nsp     *Namespace
	client  *client
	created time.Time
	state   atomic.Int32
	// recovered tells that the socket took over a previous session; set
	// before the socket is connected (next to state: no word of its own).
	recovered bool

	mu   sync.Mutex
	data []keyValue     // a slice: sockets hold a few values, a map costs more
	auth map[string]any // Handshake.Auth until the connection handlers have run
	// rare holds the socket's own handlers (On, OnAny, OnDisconnecting,
	// OnDisconnect) and the acks awaited, made on first use: an
	// application that handles events on the namespace (Namespace.OnEvent,
	// OnDisconnect) leaves it nil, and one word in every socket instead of
	// thirteen keeps an idle socket in a smaller allocation size class.
	rare *socketRare

	// pid is the recovery session id (crypto random, sent only in the
	// CONNECT reply), "" when recovery is off; set before the socket is
	// connected.
	pid string

	// rooms are the rooms the socket joined (its own aside), under
	// nsp.mu: the namespace's room index keeps them per room too.
	rooms []string
}

// socketRare is the part of a Socket that few sockets use; under Socket.mu.
type socketRare struct {
	handlers        []namedHandler // a slice: sockets have few handlers, a map costs more
	onDisconnect    []func(reason string)
	anyHandlers     []func(e *Event)
	onDisconnecting []func(reason string)
	acks            map[int64]func(args []any, err error)
}

// rareLocked returns s.rare, made if need be. Needs s.mu.
func (s *Socket) rareLocked() *socketRare {
	if s.rare == nil {
		s.rare = new(socketRare)
	}
	return s.rare
}

func newSocket(nsp *Namespace, c *client, auth map[string]any) *Socket {
	return &Socket{id: newID(), nsp: nsp, client: c, auth: auth, created: nsp.server.cfg.Now()}
}

// releaseAuth drops the CONNECT payload once the connection handlers ran.
func (s *Socket) releaseAuth() {
	s.mu.Lock()
	s.auth = nil
	s.mu.Unlock()
}

// newID returns 20 URL-safe characters from 15 random bytes, like base64id.
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.URLEncoding.EncodeToString(b[:])
}

// ID returns the socket id (not the Engine.IO session id, which is secret).
func (s *Socket) ID() string { return s.id }

// Recovered reports whether the socket took over the session of a
// disconnected one (connection-state recovery): it has that socket's id,
// rooms and data, and got the events it missed (the client's
// socket.recovered).
func (s *Socket) Recovered() bool { return s.recovered }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake returns what the socket connected with. It is built on each
// call (the query and headers are parsed then), so an idle socket holds no
// copy of it, and changes to them are not kept. Auth is empty once the
// connection handlers have run (see Handshake.Auth).
func (s *Socket) Handshake() Handshake {
	s.mu.Lock()
	auth := s.auth
	s.mu.Unlock()
	if auth == nil { // released
		auth = map[string]any{}
	}
	hs := Handshake{Auth: auth, Protocol: int(s.client.proto), Time: s.created}
	if r := s.client.conn.Request(); r != nil {
		hs.Query = r.URL.Query()
		hs.URL = r.URL.RequestURI()
		hs.Header = r.Header
		hs.Address = r.RemoteAddr
		hs.Secure = r.TLS != nil
	}
	return hs
}

// ConnID returns the id of the socket's Engine.IO connection (its sid),
// the same for every namespace the connection joined. It is a secret of
// the client's (it authenticates its polling requests): show a digest of
// it, never it.
func (s *Socket) ConnID() string { return s.client.conn.ID() }

// Transport returns the current Engine.IO transport, "polling" or "websocket".
func (s *Socket) Transport() string { return s.client.conn.Transport() }

// Connected reports whether the socket is connected.
func (s *Socket) Connected() bool { return s.state.Load() == stateConnected }

// Set stores per-socket data (e.g. the JWT claims set by middleware).
func (s *Socket) Set(key string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.data {
		if s.data[i].key == key {
			s.data[i].v = v
			return
		}
	}
	s.data = append(s.data, keyValue{key, v})
}

// dataKey holds SetData's value among Set's: a key no application uses.
const dataKey = "\x00socket.io:data"

// SetData sets the socket's shared data, Node's socket.data: what other
// nodes see of the socket (FetchSockets) and what connection-state recovery
// keeps. It should be plain values (maps, slices, strings, numbers).
func (s *Socket) SetData(v any) { s.Set(dataKey, v) }

// Data returns the value set with SetData, or nil.
func (s *Socket) Data() any { return s.Get(dataKey) }

// Get returns per-socket data stored with Set, or nil.
func (s *Socket) Get(key string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, kv := range s.data {
		if kv.key == key {
			return kv.v
		}
	}
	return nil
}

// On adds a handler for event. Handlers of one connection run one at a time,
// in arrival order, off the network reader.
func (s *Socket) On(event string, fn func(e *Event)) {
	s.mu.Lock()
	r := s.rareLocked()
	r.handlers = append(r.handlers, namedHandler{event, fn})
	s.mu.Unlock()
}

// OnAny adds a handler called for every event, before the On handlers.
func (s *Socket) OnAny(fn func(e *Event)) {
	s.mu.Lock()
	r := s.rareLocked()
	r.anyHandlers = append(r.anyHandlers, fn)
	s.mu.Unlock()
}

// OnDisconnecting adds a handler called on disconnection while the socket is
// still in its rooms.
func (s *Socket) OnDisconnecting(fn func(reason string)) {
	s.mu.Lock()
	r := s.rareLocked()
	r.onDisconnecting = append(r.onDisconnecting, fn)
	s.mu.Unlock()
}

// OnDisconnect adds a handler called once the socket has left its rooms.
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.mu.Lock()
	r := s.rareLocked()
	r.onDisconnect = append(r.onDisconnect, fn)
	s.mu.Unlock()
}

// Emit sends an event to this socket. []byte arguments (also inside []any and
// map[string]any) travel as binary attachments. Reserved names are refused.
func (s *Socket) Emit(event string, args ...any) error {
	if reservedEvents[event] {
		return errReservedEvent
	}
	if !s.Connected() {
		return ErrDisconnected
	}
	p, err := EncodeEvent(s.nsp.name, NoID, event, args...)
	if err != nil {
		return err
	}
	if r := s.nsp.server.recovery; r != nil {
		if offset := s.nsp.recordEmit(s, p); offset != "" {
			p = p.withOffset(offset)
		}
	}
	return s.client.send(p)
}

// recordEmit records an event sent to s alone for recovery and returns its
// offset, as Node does (its socket.emit is then a broadcast to the socket's
// own room): in the memory history, or published to the broker that keeps
// the history (another node may recover the client). It is sent to s
// directly: no other socket is in its room, and one being recovered with
// its id cannot be pending while it is connected. "" when the broker
// failed: the event goes without an offset (not recoverable).
func (n *Namespace) recordEmit(s *Socket, p *Packet) string {
	if n.history != nil {
		return n.history.addTo(p, s.id)
	}
	b := &Broadcast{Namespace: n.name, Packet: p, Rooms: []string{s.id}}
	ctx, cancel := context.WithTimeout(context.Background(), recoveryIOTimeout)
	defer cancel()
	offset, err := n.server.broker.Publish(ctx, b)
	if err != nil {
		return ""
	}
	return offset
}

// EmitWithAck sends an event asking for an acknowledgement and waits for it,
// returning the client's ack arguments. It fails with ctx's error when ctx
// ends first, and with ErrDisconnected when the socket disconnects.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) ([]any, error) {
	if reservedEvents[event] {
		return nil, errReservedEvent
	}
	if !s.Connected() {
		return nil, ErrDisconnected
	}
	type ackResult struct {
		args []any
		err  error
	}
	ch := make(chan ackResult, 1)
	id := s.nsp.nextAck.Add(1) - 1
	if !s.addAck(id, func(args []any, err error) { ch <- ackResult{args, err} }) {
		return nil, ErrDisconnected
	}
	drop := func() {
		s.mu.Lock()
		if s.rare != nil {
			delete(s.rare.acks, id)
		}
		s.mu.Unlock()
	}
	p, err := EncodeEvent(s.nsp.name, id, event, args...)
	if err != nil {
		drop()
		return nil, err
	}
	if err := s.client.send(p); err != nil {
		drop()
		return nil, err
	}
	if !s.Connected() { // closed between the check and the registration
		drop()
		return nil, ErrDisconnected
	}
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

// addAck registers fn for the ack of id; false (and fn dropped) when the
// socket is not connected. fn is called once: with the ack's arguments, or
// with ErrDisconnected.
func (s *Socket) addAck(id int64, fn func(args []any, err error)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.Connected() {
		return false
	}
	r := s.rareLocked()
	if r.acks == nil {
		r.acks = make(map[int64]func([]any, error))
	}
	r.acks[id] = fn
	return true
}

// onAck resolves a pending ack; unknown or late ids are ignored.
func (s *Socket) onAck(p *DecodedPacket) {
	var fn func([]any, error)
	s.mu.Lock()
	if s.rare != nil {
		fn = s.rare.acks[p.ID]
		delete(s.rare.acks, p.ID)
	}
	s.mu.Unlock()
	if fn != nil {
		args, _ := p.Data.([]any)
		fn(args, nil)
	}
}

// failAcks fails every pending ack with ErrDisconnected.
func (s *Socket) failAcks() {
	var acks map[int64]func([]any, error)
	s.mu.Lock()
	if s.rare != nil {
		acks = s.rare.acks
		s.rare.acks = nil
	}
	s.mu.Unlock()
	for _, fn := range acks {
		fn(nil, ErrDisconnected)
	}
}

// Join adds the socket to rooms (on this node; it is connected here).
func (s *Socket) Join(rooms ...string) { s.nsp.join(s, rooms) }

// Leave removes the socket from room.
func (s *Socket) Leave(room string) { s.nsp.leave(s, room) }

// Rooms returns the rooms the socket is in, its own id first; none once it
// is disconnected.
func (s *Socket) Rooms() []string { return s.nsp.socketRooms(s) }

// To returns an operator broadcasting to rooms, excluding this socket.
func (s *Socket) To(rooms ...string) *BroadcastOperator {
	return s.nsp.To(rooms...).Except(s.id)
}

// In is an alias of To.
func (s *Socket) In(rooms ...string) *BroadcastOperator { return s.To(rooms...) }

// Broadcast returns an operator sending to every socket of the namespace but
// this one.
func (s *Socket) Broadcast() *BroadcastOperator { return s.nsp.Except(s.id) }

// Disconnect sends DISCONNECT (the client sees "io server disconnect") and
// closes the socket with reason "server namespace disconnect". With close,
// every socket of the underlying connection is disconnected and the
// connection closed.
func (s *Socket) Disconnect(close bool) {
	if !s.Connected() {
		return
	}
	if close {
		c := s.client
		for _, o := range c.snapshot() {
			o.Disconnect(false)
		}
		c.closeWith(ReasonForcedClose, true)
		return
	}
	s.client.sendPacket(PacketDisconnect, s.nsp.name, nil)
	s.client.remove(s)
	s.onClose(ReasonServerNamespaceDisconnect)
}

// onEvent dispatches an EVENT or BINARY_EVENT (in the mailbox).
func (s *Socket) onEvent(p *DecodedPacket) {
	if !s.Connected() {
		return
	}
	arr := p.Data.([]any) // validated by the decoder
	e := &Event{Name: arr[0].(string), Args: arr[1:], Socket: s}
	if o := s.nsp.server.cfg.Observer; o != nil {
		o.EventReceived(e.Name)
	}
	if p.ID != NoID {
		id := p.ID
		var sent atomic.Bool
		e.Ack = func(args ...any) error {
			if !sent.CompareAndSwap(false, true) {
				return nil
			}
			ap, err := EncodeAck(s.nsp.name, id, args...)
			if err != nil {
				return err
			}
			return s.client.send(ap)
		}
	}
	if !s.nsp.admit(e) {
		return
	}
	var (
		anys []func(e *Event)
		hs   []namedHandler
	)
	s.mu.Lock()
	if s.rare != nil {
		anys, hs = s.rare.anyHandlers, s.rare.handlers
	}
	s.mu.Unlock()
	for _, fn := range anys {
		fn(e)
	}
	for _, h := range hs {
		if h.event == e.Name {
			h.fn(e)
		}
	}
	s.nsp.hmu.RLock()
	nhs := s.nsp.onEvent
	s.nsp.hmu.RUnlock()
	for _, h := range nhs {
		if h.event == e.Name {
			h.fn(e)
		}
	}
}

// onClose runs the disconnection once: disconnecting handlers (rooms still
// joined), leaving rooms and namespace, failing acks, disconnect handlers.
func (s *Socket) onClose(reason string) {
	if !s.state.CompareAndSwap(stateConnected, stateClosing) {
		return
	}
	var ing []func(reason string)
	s.mu.Lock()
	if s.rare != nil {
		ing = s.rare.onDisconnecting
	}
	s.mu.Unlock()
	for _, fn := range ing {
		s.client.run(func() { fn(reason) })
	}
	s.nsp.server.recovery.persistOnClose(s, reason)
	s.nsp.remove(s)
	s.state.Store(stateClosed)
	s.failAcks()
	var ed []func(reason string)
	s.mu.Lock()
	if s.rare != nil {
		ed = s.rare.onDisconnect
	}
	s.mu.Unlock()
	for _, fn := range ed {
		s.client.run(func() { fn(reason) })
	}
	s.nsp.hmu.RLock()
	nds := s.nsp.onDisc
	s.nsp.hmu.RUnlock()
	for _, fn := range nds {
		s.client.run(func() { fn(s, reason) })
	}
}
