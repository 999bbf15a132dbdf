package socketio

import (
	"context"
	"errors"
)

// The seam between a namespace's local delivery and the other nodes of a
// cluster (ADR 0018). A Broker carries broadcasts and requests between
// nodes and knows nothing of sockets; the namespace's side of it, Local,
// keeps the rooms and writes to this node's sockets and knows nothing of
// the broker's transport. An in-memory Broker is the default (a cluster of
// one node); internal/realtime/redisadapter implements it on Redis.
//
// The publishing node delivers its own broadcasts: Namespace publishes a
// Broadcast through Broker.Publish and, once that returned nil, delivers it
// to its own sockets. A Broker hands a Local only the broadcasts of OTHER
// nodes (a Redis broker drops its own messages by its node id). When
// Publish fails, nothing is delivered anywhere, not even locally, and the
// caller gets the error: the relay keeps the change in the event log and
// publishes it again later (ADR 0014).

// Broadcast is one broadcast as it crosses the seam: the encoded packet,
// who gets it, and how. A Broadcast and its Packet must not be modified once
// handed to Publish or Deliver: a broker may keep them (to encode them on
// its own goroutine), and so may connection-state recovery.
type Broadcast struct {
	// Namespace is the namespace's name, e.g. "/".
	Namespace string
	// Packet is the encoded Socket.IO packet (EVENT or BINARY_EVENT, no
	// ack id), encoded once for every recipient of every node.
	// Packet.Decode gives its type, namespace and data as values (event
	// name first, binary attachments as []byte) for a wire format that
	// carries packets decoded (the Redis adapter's msgpack); NewPacket and
	// Encode build one back.
	Packet *Packet
	// Rooms selects the sockets in any of these rooms (a socket id is a
	// room); every socket of the namespace when empty.
	Rooms []string
	// Except removes the sockets in any of these rooms.
	Except []string
	// Flags are the broadcast's modifiers.
	Flags BroadcastFlags
	// Offset is the broadcast's connection-state recovery offset: set by
	// the broker that assigned one (Publish's result on the publishing
	// node, the broker's message id on the others, e.g. a Redis stream
	// entry id), empty otherwise. See ADR 0018 for where recovery hooks in.
	Offset string
	// Stream and Seq, when Stream is not empty, say that this broadcast is
	// number Seq of an ordered stream of publications (internal/realtime:
	// one provider's changes, Seq its seq). The local delivery of every
	// node drops a broadcast whose Seq is not above the last it delivered
	// for that Stream, so a publisher that publishes at least once (the
	// relay) is delivered exactly once per node, in order. A Broker
	// carries them across; they are not Socket.IO's and other
	// implementations ignore them.
	Stream string
	Seq    int64
}

// BroadcastFlags modify a broadcast, as Node's flags do.
type BroadcastFlags struct {
	// Local: this node's sockets only; the broadcast is not published.
	Local bool
	// Volatile: may be lost (never kept for connection-state recovery).
	Volatile bool
}

// Selector selects sockets of a namespace, as a broadcast does: those in
// any of Rooms (all when empty) and in none of Except. A socket id is a
// room, so a Selector names one socket with Rooms: []string{id}.
type Selector struct {
	Rooms  []string
	Except []string
}

// SocketInfo describes a socket of any node (Node's fetchSockets result).
type SocketInfo struct {
	ID string
	// Handshake is what the socket connected with (Auth is empty: it is
	// not kept past the connection handlers).
	Handshake Handshake
	// Rooms are the socket's rooms, its own id first.
	Rooms []string
	// Data is the socket's shared data (Socket.SetData, Node's
	// socket.data); nil when none.
	Data any
}

// Broker carries a namespace's broadcasts to the other nodes of a cluster.
// It knows nothing of sockets. Its methods are safe for concurrent use.
//
// A Broker that spans processes also implements Cluster, for the requests
// that need the other nodes' answers.
type Broker interface {
	// Subscribe starts delivering to local the broadcasts and requests of
	// its namespace (local.Name()) published by other nodes. It does not
	// wait for the network: a broker that loses its connection subscribes
	// again by itself. One Local per namespace per broker.
	Subscribe(ctx context.Context, local Local) error
	// Unsubscribe stops the deliveries to the namespace's Local. Once it
	// returns, no call into that Local is made.
	Unsubscribe(ctx context.Context, nsp string) error
	// Publish hands b to the other nodes, and returns once the broker has
	// taken it (Redis answered) or failed: then nothing was delivered
	// anywhere and the error says why. offset is the recovery offset the
	// broker assigned, "" when it assigns none.
	Publish(ctx context.Context, b *Broadcast) (offset string, err error)
	// Close releases the broker; later Publishes fail. The owner of a
	// Broker given in Config closes it after Server.Shutdown.
	Close() error
}

// Resyncer is implemented by a Local that can fill what a broker may have
// lost without a later broadcast to show it (the namespace's gap filler,
// Namespace.FillStreamGaps): a broker whose transport drops messages while
// it reconnects (Redis pub/sub) calls ResyncStreams once it is subscribed
// again, on a goroutine of its own (it reads the filler once per stream).
type Resyncer interface {
	ResyncStreams()
}

// Local is a namespace's side of the seam on this node: what a Broker
// calls to deliver other nodes' broadcasts and to answer their requests.
// Every method acts on this node only. Brokers get it from Subscribe.
type Local interface {
	// Name is the namespace's name, e.g. "/".
	Name() string
	// HasRoom reports whether a socket of this node is in room (a socket
	// id is a room). It is cheap, so a broker can drop a message for a
	// room this node does not host before decoding it.
	HasRoom(room string) bool
	// Deliver sends another node's broadcast to the selected sockets of
	// this node. It runs the stream check (Broadcast.Stream) first. It
	// does not wait for slow clients.
	Deliver(b *Broadcast)
	// Rooms returns every room with a socket on this node (allRooms).
	Rooms() []string
	// FetchSockets describes the selected sockets (fetchSockets).
	FetchSockets(sel Selector) []SocketInfo
	// AddSockets makes the selected sockets join rooms (socketsJoin).
	AddSockets(sel Selector, rooms []string)
	// DelSockets makes the selected sockets leave rooms (socketsLeave).
	DelSockets(sel Selector, rooms []string)
	// DisconnectSockets disconnects the selected sockets, and with close
	// their whole connections (disconnectSockets).
	DisconnectSockets(sel Selector, close bool)
	// ServerSideEmit runs the namespace's OnServerSideEmit handlers of
	// event with args. ack, when not nil, answers the requesting node
	// (once; later calls are ignored); a node without handlers for event
	// never calls it.
	ServerSideEmit(event string, args []any, ack func(reply any))
	// BroadcastWithAck sends b to the selected sockets asking each for an
	// acknowledgement. b.Packet is encoded without an ack id: this node
	// adds its own. onCount is called once, before any onAck, with the
	// number of sockets it was sent to; onAck with each socket's ack
	// arguments, as they come, until they all have or the sockets are
	// gone (a socket that disconnects first never calls it). onAck runs
	// on the socket's reader and may come after Unsubscribe: a broker
	// drops what comes for a request it no longer tracks.
	BroadcastWithAck(b *Broadcast, onCount func(n int), onAck func(args []any))
}

// Cluster is implemented by a Broker whose nodes answer each other's
// requests. Each method asks the OTHER nodes of the cluster and merges
// their answers; the Namespace adds this node's own part. A request no
// node answers in time fails with ctx's error (the namespace's callers pass
// a context with their timeout).
type Cluster interface {
	// ServerCount returns the number of nodes, this one included.
	ServerCount(ctx context.Context) (int, error)
	// AllRooms returns the rooms of nsp that have a socket on another node.
	AllRooms(ctx context.Context, nsp string) ([]string, error)
	// FetchSockets describes the selected sockets of nsp on other nodes.
	FetchSockets(ctx context.Context, nsp string, sel Selector) ([]SocketInfo, error)
	// AddSockets, DelSockets and DisconnectSockets act on the selected
	// sockets of other nodes, as Local's methods do on this one.
	AddSockets(ctx context.Context, nsp string, sel Selector, rooms []string) error
	DelSockets(ctx context.Context, nsp string, sel Selector, rooms []string) error
	DisconnectSockets(ctx context.Context, nsp string, sel Selector, close bool) error
	// ServerSideEmit runs the other nodes' OnServerSideEmit handlers of
	// event. With withAck it waits for one reply per other node and
	// returns them (ctx's error, with the replies so far, if some never
	// came); without, it returns once published.
	ServerSideEmit(ctx context.Context, nsp, event string, args []any, withAck bool) ([]any, error)
	// BroadcastWithAck sends b through the other nodes' Local
	// BroadcastWithAck: onCount is called once per node with its number
	// of recipients, and returns when every node has given its count (or
	// ctx ended). onAck is called with each remote client's ack
	// arguments, until ctx ends. Both may be called from any goroutine.
	BroadcastWithAck(ctx context.Context, b *Broadcast, onCount func(n int), onAck func(args []any)) error
}

// ErrBrokerClosed is returned by a closed broker's Publish and requests.
var ErrBrokerClosed = errors.New("socketio: broker closed")
