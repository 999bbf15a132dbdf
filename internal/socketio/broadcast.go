package socketio

// BroadcastOperator selects recipients for a broadcast; To, In and Except
// return a new operator, so one may be kept and reused. Every recipient gets
// an event once even if it is in several of the rooms.
type BroadcastOperator struct {
	nsp    *Namespace
	rooms  []string
	except []string
}

// To adds rooms to the recipients.
func (b *BroadcastOperator) To(rooms ...string) *BroadcastOperator {
	return &BroadcastOperator{
		nsp:    b.nsp,
		rooms:  append(append([]string(nil), b.rooms...), rooms...),
		except: b.except,
	}
}

// In is an alias of To.
func (b *BroadcastOperator) In(rooms ...string) *BroadcastOperator { return b.To(rooms...) }

// Except excludes the sockets in rooms (a socket id is a room).
func (b *BroadcastOperator) Except(rooms ...string) *BroadcastOperator {
	return &BroadcastOperator{
		nsp:    b.nsp,
		rooms:  b.rooms,
		except: append(append([]string(nil), b.except...), rooms...),
	}
}

// Emit encodes the event once and hands it to the adapter. []byte arguments
// (also inside []any and map[string]any) travel as binary attachments.
// Reserved event names are refused.
func (b *BroadcastOperator) Emit(event string, args ...any) error {
	if reservedEvents[event] {
		return errReservedEvent
	}
	p, err := EncodeEvent(b.nsp.name, NoID, event, args...)
	if err != nil {
		return err
	}
	// The engine writes once the packet is queued to every recipient (see
	// engineio.Server.ReleaseWrites).
	eng := b.nsp.server.engine
	eng.HoldWrites()
	defer eng.ReleaseWrites()
	b.nsp.adapter.Broadcast(p, BroadcastOptions{Rooms: b.rooms, Except: b.except})
	return nil
}

// Sockets returns the selected sockets of this process (Node's fetchSockets,
// local only).
func (b *BroadcastOperator) Sockets() []*Socket {
	a := b.nsp.adapter
	ids := a.Sockets(b.rooms)
	var except map[string]struct{}
	if len(b.except) > 0 {
		ex := a.Sockets(b.except)
		except = make(map[string]struct{}, len(ex))
		for _, id := range ex {
			except[id] = struct{}{}
		}
	}
	out := make([]*Socket, 0, len(ids))
	for _, id := range ids {
		if _, skip := except[id]; skip {
			continue
		}
		if s := b.nsp.Socket(id); s != nil {
			out = append(out, s)
		}
	}
	return out
}

// SocketsJoin makes the selected sockets join rooms.
func (b *BroadcastOperator) SocketsJoin(rooms ...string) {
	for _, s := range b.Sockets() {
		s.Join(rooms...)
	}
}

// SocketsLeave makes the selected sockets leave rooms.
func (b *BroadcastOperator) SocketsLeave(rooms ...string) {
	for _, s := range b.Sockets() {
		for _, r := range rooms {
			s.Leave(r)
		}
	}
}

// DisconnectSockets disconnects the selected sockets (see Socket.Disconnect).
func (b *BroadcastOperator) DisconnectSockets(close bool) {
	for _, s := range b.Sockets() {
		s.Disconnect(close)
	}
}
