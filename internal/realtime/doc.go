// Package realtime is Eventide's Socket.IO application: the handshake that
// checks a JWT, the joinRoom / leaveRoom handlers that keep a socket in the
// provider rooms its claims allow, and Service, through which every other
// package pushes events: Publish, the relay's Publisher, which turns a
// committed availability.Change into "availabilityUpdated" in the room
// "provider-<id>" (the names live here) and drops a seq it already sent;
// EmitToRoom and EmitToAll for anything else.
//
// It plays the part of the NestJS WebsocketsGateway and WebsocketsService the
// frontends were written against: the event names, the payloads and the
// `exception` error shape ({status, message, cause}) are the same.
package realtime
