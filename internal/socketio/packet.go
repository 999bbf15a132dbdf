package socketio

import (
	"errors"
	"strconv"
)

// PacketType is the type of a Socket.IO packet, the first character on the wire.
type PacketType byte

// Socket.IO packet types. In protocol v4 (socket.io 2.x) ConnectError is named ERROR.
const (
	PacketConnect      PacketType = 0
	PacketDisconnect   PacketType = 1
	PacketEvent        PacketType = 2
	PacketAck          PacketType = 3
	PacketConnectError PacketType = 4
	PacketBinaryEvent  PacketType = 5
	PacketBinaryAck    PacketType = 6
)

var packetTypeNames = [...]string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}

// String returns the protocol name of t, e.g. "BINARY_EVENT".
func (t PacketType) String() string {
	if int(t) < len(packetTypeNames) {
		return packetTypeNames[t]
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// binary reports whether packets of type t carry attachments.
func (t PacketType) binary() bool { return t == PacketBinaryEvent || t == PacketBinaryAck }

// NoID is the ack id of a packet that has none.
const NoID int64 = -1

// maxAckID is the largest ack id accepted: JavaScript's Number.MAX_SAFE_INTEGER,
// so an id round-trips through every client unchanged.
const maxAckID = 1<<53 - 1

// DefaultMaxAttachments bounds the binary attachments of one packet unless
// configured otherwise.
const DefaultMaxAttachments = 10

// reservedEvents may not be sent by clients (socket.io-parser's RESERVED_EVENTS,
// plus "error"), nor emitted by the server.
var reservedEvents = map[string]bool{
	"connect":        true,
	"connect_error":  true,
	"disconnect":     true,
	"disconnecting":  true,
	"newListener":    true,
	"removeListener": true,
	"error":          true,
}

// IsReservedEvent reports whether name is an event name reserved by Socket.IO,
// which clients may not send and Emit refuses.
func IsReservedEvent(name string) bool { return reservedEvents[name] }

// Decoding errors. Every error returned by Decoder.Add wraps ErrParse.
var (
	// ErrParse is wrapped by every decoding error.
	ErrParse = errors.New("socketio: parse error")
)

// parseError wraps ErrParse with a reason.
type parseError string

func (e parseError) Error() string { return "socketio: parse error: " + string(e) }
func (e parseError) Unwrap() error { return ErrParse }
func perr(reason string) error     { return parseError(reason) }
