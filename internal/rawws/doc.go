// Package rawws is the plain WebSocket gateway of the attendance clients —
// not Socket.IO. Clients send {"event", "payload"} text messages and get
// {"message": "Event received", "payload", "timestamp"} back; other packages
// reach them through Service.Broadcast and Service.EmitToClient.
//
// It replaces the NestJS attendance WebSocket module: same messages, same
// logging (gateway start, connections, disconnections, every event with its
// payload), same open CORS. A message the gateway cannot read gets
// {"message": "Invalid message", "error", "timestamp"} and the connection
// stays open.
package rawws
