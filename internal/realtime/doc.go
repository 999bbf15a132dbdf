// Package realtime is Eventide's Socket.IO application: the handshake that
// checks a JWT, the joinRoom / leaveRoom handlers that keep a socket in the
// provider rooms its claims allow, and Service, through which every other
// package pushes events (EmitToRoom, EmitToAll).
//
// It plays the part of the NestJS WebsocketsGateway and WebsocketsService the
// frontends were written against: the event names, the payloads and the
// `exception` error shape ({status, message, cause}) are the same.
package realtime
