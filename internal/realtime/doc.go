// Package realtime is Eventide's Socket.IO application: the handshake that
// checks a JWT, the joinRoom / leaveRoom handlers that keep a socket in the
// provider rooms its claims allow, and Service, through which every other
// package pushes events, on every node of the cluster: Publish, the relay's
// Publisher, which turns a committed availability.Change into
// "availabilityUpdated" in the room "provider-<id>" (the names live here,
// in names.go), sent as seq N of the provider's stream so that every node
// delivers it once (it returns the broker's error when it cannot be sent);
// EmitToRoom and EmitToAll for anything else.
//
// It plays the part of the NestJS WebsocketsGateway and WebsocketsService the
// frontends were written against: the event names, the payloads and the
// `exception` error shape ({status, message, cause}) are the same.
//
// A socket lives as long as its token is valid for the Verifier: it is
// disconnected at exp plus the Verifier's leeway (TokenVerifier.ValidUntil),
// the instant from which a handshake or REST call with the token is refused.
// A socket may be in at most Config.MaxRooms provider rooms.
//
// Every event a socket sends, whatever its name, is first admitted
// against two token buckets (admission.go): the socket's own
// (Config.SocketEvents) and that of its token's subject, shared by all of
// the subject's sockets (Config.SubjectEvents, for at most Config.Subjects
// subjects). An event over either reaches no handler: the socket gets an
// `exception` and the ack {status: "error"} saying when to retry. A socket
// refused more than Config.AbuseRefusals times within Config.AbuseWindow
// gets a last exception and is disconnected.
package realtime
