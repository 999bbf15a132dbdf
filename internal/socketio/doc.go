// Package socketio is a Socket.IO server: protocol v5 (socket.io-client
// 3.x/4.x over Engine.IO v4) and v4 (socket.io-client 2.x over Engine.IO v3)
// on one endpoint, built on internal/engineio. It behaves like the Node.js
// socket.io 4.8 server with allowEIO3: true.
//
// # Use
//
//	io := socketio.NewServer(socketio.Config{Engine: engineio.Config{AllowEIO3: true}, Logger: log})
//	root := io.Of("/")
//	root.Use(func(s *socketio.Socket) error { // connection middleware
//		tok, _ := s.Handshake().Auth["token"].(string)
//		claims, err := verify(tok)
//		if err != nil {
//			return err // -> CONNECT_ERROR {"message": err.Error(), "data": err.Data()}
//		}
//		s.Set("claims", claims)
//		return nil
//	})
//	root.OnConnection(func(s *socketio.Socket) {
//		s.On("joinRoom", func(e *socketio.Event) {
//			room, _ := e.Args[0].(string)
//			s.Join(room)
//			s.Emit("joinedRoom", room)
//		})
//	})
//	root.To("provider-1").Emit("availabilityUpdated", payload)
//	mux.Handle("/socket.io/", io)
//
// A handler that is the same for every socket can be registered once on the
// namespace instead (root.OnEvent("joinRoom", ...), root.OnDisconnect):
// it finds its socket in the event, and the socket keeps no handler of its
// own, which is smaller for a server of many idle connections (ADR 0029).
//
// # Model
//
// A client is one Engine.IO connection; it carries one Socket per connected
// namespace. Every socket is in the room named by its id. Handlers of one
// connection (middleware, OnConnection, AdmitEvents checks, On, OnAny,
// OnDisconnect, the namespace's OnEvent and OnDisconnect) run one at a time, in arrival order, on a goroutine that
// exists only while there is work, never on the network reader;
// acknowledgements are resolved on the reader, so a handler may block in
// EmitWithAck. A panicking handler is logged and the connection goes on.
//
// Event arguments are decoded with encoding/json into any: objects as
// map[string]any, arrays as []any, numbers as float64 (JavaScript numbers);
// binary attachments become []byte. Event.Unmarshal decodes one argument into
// a struct. On the way out, []byte anywhere in the arguments (top level or
// inside []any and map[string]any) is sent as a binary attachment; other
// values are marshalled by encoding/json without HTML escaping, like
// JSON.stringify.
//
// A broadcast is encoded once into a Packet whose Engine.IO messages are
// prepared once and handed to the engine in one call for every recipient
// (engineio.Server.Broadcast); v4 and v5 clients share the encoding.
//
// # Several nodes
//
// A namespace's rooms and sockets are this node's; a Broker (broker.go)
// carries broadcasts and requests to the other nodes of a cluster and knows
// nothing of sockets (ADR 0018). A broadcast is published through the
// Broker first and, once it took it, delivered to this node's sockets; the
// other nodes deliver it through their Local. When the Broker fails,
// nothing is delivered and Emit returns the error. The default Broker is in
// memory, a cluster of one; MemoryCluster joins Servers of one process.
// A Sequenced broadcast is delivered at most once per node, in order of its
// seq. FetchSockets, AllRooms, SocketsJoin/Leave, DisconnectSockets,
// ServerSideEmit, EmitWithAck and ServerCount span the cluster when the
// Broker implements Cluster; Local() restricts an operator to this node.
//
// # Connection-state recovery
//
// With Config.Recovery.Window set (ADR 0023), as Node's
// connectionStateRecovery: the CONNECT reply is {sid, pid}; every event
// without ack id that is not volatile (broadcasts and Socket.Emit) carries
// its offset as a last argument, spliced once per broadcast; a socket that
// loses its transport (Recoverable) leaves its session for the window; a
// client that reconnects with auth {pid, offset} gets its sid, its rooms
// (those Namespace.FilterRecoveredRooms keeps) and every event it missed, in
// order, once (Socket.Recovered). The history and the sessions are the
// broker's when it is a SessionStore (Redis: a client recovers on any node),
// else a bounded memory history per namespace and memory sessions.
//
// # Errors
//
// A malformed packet, a packet for a namespace the client has not joined, a
// second CONNECT to a namespace or a reserved event name ("connect",
// "disconnect", "error"...) closes that client's Engine.IO connection; its
// sockets disconnect with reason "parse error". The server and other
// connections are unaffected. A connection that joins no namespace within
// Config.ConnectTimeout is closed.
//
// # Limits
//
// What a client makes this layer hold is bounded per connection, by bytes
// it actually sent: a CONNECT packet by Config.MaxConnectBytes (a larger one
// is refused with CONNECT_ERROR, the connection stays); the packets waiting
// for its handlers and a binary packet's attachments together by
// Config.MaxBufferedBytes (MaxConnectBytes until a namespace is joined) and
// 4,096 packets; the wait for attachments by Config.AttachmentTimeout. Over
// a bound the connection is closed with reason "receive queue overflow".
// The CONNECT payload is not kept once the connection handlers have read it
// (Handshake.Auth). Each hit is reported to Config.Limits.
//
// Disconnect reasons seen by OnDisconnect: "server namespace disconnect",
// "client namespace disconnect", "parse error", "forced close",
// "server shutting down", "receive queue overflow", and the Engine.IO ones
// ("transport close", "transport error", "ping timeout", "send queue
// overflow").
package socketio
