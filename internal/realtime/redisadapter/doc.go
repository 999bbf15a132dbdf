// Package redisadapter carries a Socket.IO server's broadcasts and requests
// between eventide nodes over Redis, in the wire formats of Node's packages,
// so eventide nodes and Node.js socket.io nodes serve one cluster:
//
//   - Classic (--adapter redis): @socket.io/redis-adapter 8.x pub/sub,
//     which @socket.io/redis-emitter 5.x also speaks.
//   - Streams (--adapter redis-streams): @socket.io/redis-streams-adapter
//     0.3, a Redis stream that a node reads again from where it stopped
//     after Redis was unreachable.
//
// Both implement socketio.Broker and socketio.Cluster (ADR 0018): they know
// nothing of sockets, and hand a namespace's socketio.Local the broadcasts
// and requests of the other nodes. They answer every request a Node node
// makes (allRooms, fetchSockets, socketsJoin/Leave, disconnectSockets,
// serverSideEmit, broadcasts with acks), so a Node node in the cluster never
// waits for eventide until its timeout, and count in serverCount.
//
// This package is the only importer of github.com/redis/go-redis/v9 and of
// github.com/vmihailenco/msgpack/v5. Its wire code is checked against bytes
// the Node packages wrote (testdata/, captured by
// test/interop/capture-fixtures.mjs); ADR 0019 records the choices.
//
// For connection-state recovery (ADR 0023) both brokers are the server's
// socketio.SessionStore and LiveSessionStore: sessions in Node's streams
// format under "sio:session:<pid>", taken once, and the broadcasts missed
// after an offset: Streams from its stream, Classic (with Config.Recovery)
// from the stream "<key>-recovery" it writes beside Node's pub/sub format.
//
// A node reports Redis unreachable once (one WARN line) and reachable again
// once (one INFO line), and Ready says which it is, for /readyz. While Redis
// is unreachable Publish fails at once, so the event log's relay keeps the
// changes and publishes them when it is back (ADR 0014).
package redisadapter
