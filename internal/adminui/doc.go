// Package adminui serves the official Socket.IO admin UI
// (@socket.io/admin-ui 0.5, https://admin.socket.io) from a Socket.IO
// server: the "/admin" namespace with the events and commands of Node's
// instrument() (lib/index.ts of socketio/socket.io-admin-ui), written again
// in Go. The UI itself is unchanged: the hosted one, or its ui/dist served
// anywhere.
//
// What the UI gets:
//   - "config" {supportedFeatures}: the commands this node accepts (none
//     when read-only), AGGREGATED_EVENTS, and ALL_EVENTS in development mode;
//   - "server_stats" every StatsInterval from every node (serverId,
//     hostname, pid, uptime, clientsCount, pollingClientsCount,
//     aggregatedEvents, namespaces), broadcast to the admin sockets of every
//     node through the server's broker;
//   - in development mode, "all_sockets" at login (every node's sockets,
//     asked of the other nodes with a ServerSideEmit with acks on the admin
//     namespace) and the live "socket_connected", "socket_disconnected",
//     "room_joined", "room_left" and "event_received", broadcast as the
//     server stats are.
//
// The commands "emit", "join", "leave" and "_disconnect" act on the whole
// cluster (BroadcastOperator.Emit, SocketsJoin, SocketsLeave,
// DisconnectSockets). A read-only UI refuses them.
//
// Logging in: the UI's username and password are checked against a bcrypt
// hash (golang.org/x/crypto/bcrypt, imported here only); a good login gets
// a session id the UI logs in with again after a reload. Wrong credentials
// are a connect_error "invalid credentials", as in Node. See ADR 0025.
package adminui
