// Package rawws is the plain WebSocket gateway of the attendance clients —
// not Socket.IO. It replaces the NestJS attendance WebSocket module: same
// messages, same logging, same open CORS (see docs/adr/0009).
//
// Clients send text messages {"event": string, "payload": any} and get
// {"message": "Event received", "payload", "timestamp"} back, the timestamp
// formatted like JavaScript's toISOString. A message the gateway cannot read
// (malformed JSON, not an object, no non-empty string "event", a binary
// frame) gets {"message": "Invalid message", "error", "timestamp"} and the
// connection stays open; a message over Config.MaxMessage closes it with 1009.
//
// Other packages reach the clients through Service.Broadcast (encoded once,
// the same bytes queued to everyone) and Service.EmitToClient. Each client
// has a bounded send queue drained by its own writer, so a slow client is
// disconnected instead of delaying the others.
//
// Files: service.go (Config, Service, Broadcast, EmitToClient, Shutdown),
// handler.go (auth, upgrade, read loop), message.go (message shapes and the
// echo), client.go (one connection's queue and writer).
package rawws
