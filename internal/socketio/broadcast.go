package socketio

import (
	"context"
	"sync"
	"time"
)

// BroadcastOperator selects recipients for a broadcast; To, In, Except and
// the flag methods return a new operator, so one may be kept and reused.
// Every recipient gets an event once even if it is in several of the rooms.
//
// Its broadcasts and operations reach every node of the cluster (through
// the server's Broker), unless Local was called.
type BroadcastOperator struct {
	nsp    *Namespace
	rooms  []string
	except []string
	flags  BroadcastFlags
	stream string
	seq    int64
}

func (b *BroadcastOperator) clone() *BroadcastOperator {
	c := *b
	return &c
}

// To adds rooms to the recipients.
func (b *BroadcastOperator) To(rooms ...string) *BroadcastOperator {
	c := b.clone()
	c.rooms = append(append([]string(nil), b.rooms...), rooms...)
	return c
}

// In is an alias of To.
func (b *BroadcastOperator) In(rooms ...string) *BroadcastOperator { return b.To(rooms...) }

// Except excludes the sockets in rooms (a socket id is a room).
func (b *BroadcastOperator) Except(rooms ...string) *BroadcastOperator {
	c := b.clone()
	c.except = append(append([]string(nil), b.except...), rooms...)
	return c
}

// Local restricts the operator to this node's sockets (Node's local flag):
// nothing is published to other nodes.
func (b *BroadcastOperator) Local() *BroadcastOperator {
	c := b.clone()
	c.flags.Local = true
	return c
}

// Volatile marks the broadcast as one that may be lost (Node's volatile
// flag): it is never kept for connection-state recovery.
func (b *BroadcastOperator) Volatile() *BroadcastOperator {
	c := b.clone()
	c.flags.Volatile = true
	return c
}

// Sequenced marks the broadcast as number seq of stream, an ordered stream
// of publications (Broadcast.Stream): every node delivers it unless it has
// delivered that seq of stream, or a later one, already. A publisher that
// may publish twice (at least once) is so delivered once per node.
func (b *BroadcastOperator) Sequenced(stream string, seq int64) *BroadcastOperator {
	c := b.clone()
	c.stream, c.seq = stream, seq
	return c
}

// Emit is EmitContext without a deadline for the broker.
func (b *BroadcastOperator) Emit(event string, args ...any) error {
	return b.EmitContext(context.Background(), event, args...)
}

// EmitContext encodes the event once, publishes it to the other nodes
// through the broker (ctx bounds that) and, once the broker took it,
// delivers it to this node's sockets. When the broker fails, nothing is
// delivered, on any node, and the error is returned. []byte arguments (also
// inside []any and map[string]any) travel as binary attachments. Reserved
// event names are refused.
func (b *BroadcastOperator) EmitContext(ctx context.Context, event string, args ...any) error {
	if reservedEvents[event] {
		return errReservedEvent
	}
	p, err := EncodeEvent(b.nsp.name, NoID, event, args...)
	if err != nil {
		return err
	}
	return b.nsp.publish(ctx, &Broadcast{
		Namespace: b.nsp.name, Packet: p, Rooms: b.rooms, Except: b.except,
		Flags: b.flags, Stream: b.stream, Seq: b.seq,
	})
}

// publish hands bc to the broker, then to the local delivery.
func (n *Namespace) publish(ctx context.Context, bc *Broadcast) error {
	offset := ""
	if !bc.Flags.Local {
		var err error
		if o := n.server.cfg.Observer; o != nil {
			start := time.Now()
			offset, err = n.server.broker.Publish(ctx, bc)
			o.BrokerPublished(time.Since(start), err)
		} else {
			offset, err = n.server.broker.Publish(ctx, bc)
		}
		if err != nil {
			return err
		}
	}
	n.deliver(bc, offset)
	return nil
}

// cluster returns the broker's Cluster, nil when it has none or the
// operator is local.
func (b *BroadcastOperator) cluster() Cluster {
	if b.flags.Local {
		return nil
	}
	return b.nsp.cluster()
}

func (n *Namespace) cluster() Cluster {
	c, _ := n.server.broker.(Cluster)
	return c
}

func (b *BroadcastOperator) selector() Selector { return Selector{Rooms: b.rooms, Except: b.except} }

// EmitWithAck sends the event to the selected sockets of every node, each
// asked for an acknowledgement, and returns their ack arguments once every
// socket answered. When ctx ends first (give it the timeout Node's
// timeout() sets), it returns the answers so far and ctx's error.
func (b *BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([][]any, error) {
	if reservedEvents[event] {
		return nil, errReservedEvent
	}
	p, err := EncodeEvent(b.nsp.name, NoID, event, args...)
	if err != nil {
		return nil, err
	}
	bc := &Broadcast{Namespace: b.nsp.name, Packet: p, Rooms: b.rooms, Except: b.except, Flags: b.flags}
	w := newAckWait()
	if c := b.cluster(); c != nil {
		if err := c.BroadcastWithAck(ctx, bc, w.count, w.ack); err != nil {
			return w.answers(), err
		}
	}
	b.nsp.local().BroadcastWithAck(bc, w.count, w.ack)
	return w.wait(ctx)
}

// ackWait gathers the answers of a broadcast with acks.
type ackWait struct {
	mu       sync.Mutex
	expected int
	got      [][]any
	changed  chan struct{} // 1-buffered: a count or an ack came
}

func newAckWait() *ackWait { return &ackWait{changed: make(chan struct{}, 1)} }

func (w *ackWait) count(n int) {
	w.mu.Lock()
	w.expected += n
	w.mu.Unlock()
	w.signal()
}

func (w *ackWait) ack(args []any) {
	w.mu.Lock()
	w.got = append(w.got, args)
	w.mu.Unlock()
	w.signal()
}

func (w *ackWait) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *ackWait) answers() [][]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]any(nil), w.got...)
}

// wait returns once every expected answer came, or ctx ended. Every node's
// count is in before wait is called.
func (w *ackWait) wait(ctx context.Context) ([][]any, error) {
	for {
		w.mu.Lock()
		done := len(w.got) >= w.expected
		w.mu.Unlock()
		if done {
			return w.answers(), nil
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			return w.answers(), ctx.Err()
		}
	}
}

// Sockets returns the selected sockets of this node.
func (b *BroadcastOperator) Sockets() []*Socket {
	return b.nsp.selectSockets(b.selector(), nil)
}

// FetchSockets describes the selected sockets of every node (Node's
// fetchSockets). A node that does not answer in time makes it fail with
// ctx's error.
func (b *BroadcastOperator) FetchSockets(ctx context.Context) ([]SocketInfo, error) {
	out := b.nsp.local().FetchSockets(b.selector())
	if c := b.cluster(); c != nil {
		remote, err := c.FetchSockets(ctx, b.nsp.name, b.selector())
		if err != nil {
			return out, err
		}
		out = append(out, remote...)
	}
	return out, nil
}

// SocketsJoin makes the selected sockets of every node join rooms.
func (b *BroadcastOperator) SocketsJoin(ctx context.Context, rooms ...string) error {
	b.nsp.local().AddSockets(b.selector(), rooms)
	if c := b.cluster(); c != nil {
		return c.AddSockets(ctx, b.nsp.name, b.selector(), rooms)
	}
	return nil
}

// SocketsLeave makes the selected sockets of every node leave rooms.
func (b *BroadcastOperator) SocketsLeave(ctx context.Context, rooms ...string) error {
	b.nsp.local().DelSockets(b.selector(), rooms)
	if c := b.cluster(); c != nil {
		return c.DelSockets(ctx, b.nsp.name, b.selector(), rooms)
	}
	return nil
}

// DisconnectSockets disconnects the selected sockets of every node (see
// Socket.Disconnect).
func (b *BroadcastOperator) DisconnectSockets(ctx context.Context, close bool) error {
	b.nsp.local().DisconnectSockets(b.selector(), close)
	if c := b.cluster(); c != nil {
		return c.DisconnectSockets(ctx, b.nsp.name, b.selector(), close)
	}
	return nil
}

// AllRooms returns the rooms with a socket on any node (Node's allRooms).
func (n *Namespace) AllRooms(ctx context.Context) ([]string, error) {
	rooms := n.local().Rooms()
	c := n.cluster()
	if c == nil {
		return rooms, nil
	}
	remote, err := c.AllRooms(ctx, n.name)
	if err != nil {
		return rooms, err
	}
	seen := make(map[string]struct{}, len(rooms)+len(remote))
	for _, r := range rooms {
		seen[r] = struct{}{}
	}
	for _, r := range remote {
		if _, dup := seen[r]; !dup {
			seen[r] = struct{}{}
			rooms = append(rooms, r)
		}
	}
	return rooms, nil
}

// ServerCount returns the number of nodes in the cluster, this one
// included (Node's serverCount).
func (n *Namespace) ServerCount(ctx context.Context) (int, error) {
	if c := n.cluster(); c != nil {
		return c.ServerCount(ctx)
	}
	return 1, nil
}

// ServerSideEmit runs the OnServerSideEmit handlers of event on the other
// nodes (not this one, as Node).
func (n *Namespace) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	if c := n.cluster(); c != nil {
		_, err := c.ServerSideEmit(ctx, n.name, event, args, false)
		return err
	}
	return nil
}

// ServerSideEmitWithAck is ServerSideEmit waiting for one reply per other
// node; when ctx ends first, the replies so far and ctx's error.
func (n *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]any, error) {
	if c := n.cluster(); c != nil {
		return c.ServerSideEmit(ctx, n.name, event, args, true)
	}
	return nil, nil
}
