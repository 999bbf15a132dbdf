// Package rawws is the plain WebSocket gateway of the attendance clients —
// not Socket.IO. It replaces the NestJS attendance WebSocket module: same
// messages, same open CORS in dev (see docs/adr/0009), with the limits an
// open port needs (docs/adr/0012).
//
// Clients send text messages {"event": string, "payload": any} and get
// {"message": "Event received", "payload", "timestamp"} back, the timestamp
// formatted like JavaScript's toISOString. A message the gateway cannot read
// (malformed JSON, not an object, no non-empty string "event", a binary
// frame) gets {"message": "Invalid message", "error", "timestamp"} and the
// connection stays open; a message over Config.MaxMessage closes it with 1009.
//
// What a client can make the gateway hold is bounded: a heartbeat pings a
// client quiet for PingInterval and closes it (1001) when nothing comes back
// within PingTimeout; a message begun must be complete within MessageTimeout
// (1008); an optional IdleTimeout closes clients that send no message
// (1001); MaxConns caps the connections (1013 past it); a message's buffer
// grows with the bytes that arrive (internal/ws). The deadlines are checked
// by one sweep over the clients on an injected Clock. Every limit hit goes
// to a limits.Reporter; messages are logged at debug level only, cut to 256
// bytes.
//
// Other packages reach the clients through Service.Broadcast (encoded once,
// the same bytes queued to everyone) and Service.EmitToClient. Each client
// has a bounded send queue drained by its own writer, so a slow client is
// disconnected instead of delaying the others.
//
// Files: service.go (Config, Service, Broadcast, EmitToClient, Shutdown),
// handler.go (auth, origin, cap, upgrade, read loop), heartbeat.go (Clock,
// the sweep: heartbeat and deadlines), message.go (message shapes, the
// echo, its logging), client.go (one connection's queue and writer).
package rawws
