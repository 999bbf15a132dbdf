package ws

import (
	"encoding/binary"
	"strconv"

	gws "github.com/gobwas/ws"
)

// Opcode is a WebSocket frame opcode.
type Opcode byte

// The opcodes of RFC 6455, re-exported so callers never import gobwas/ws.
const (
	OpContinuation = Opcode(gws.OpContinuation)
	OpText         = Opcode(gws.OpText)
	OpBinary       = Opcode(gws.OpBinary)
	OpClose        = Opcode(gws.OpClose)
	OpPing         = Opcode(gws.OpPing)
	OpPong         = Opcode(gws.OpPong)
)

// String names the opcode.
func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "opcode(" + strconv.Itoa(int(op)) + ")"
}

func (op Opcode) isControl() bool { return op&0x8 != 0 }

// Close status codes used by this package.
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001
	CloseProtocolError   = 1002
	CloseUnsupportedData = 1003
	CloseNoStatus        = 1005
	CloseAbnormal        = 1006
	CloseInvalidPayload  = 1007
	ClosePolicyViolation = 1008
	CloseMessageTooBig   = 1009
	CloseInternalError   = 1011
	// CloseTryAgainLater (IANA registry): the server is at a limit, such as
	// its connection cap; the client may come back later.
	CloseTryAgainLater = 1013
)

// MaxFrameHeaderSize is the largest frame header: 2 bytes, 8 of extended
// length and a 4-byte mask.
const MaxFrameHeaderSize = 14

// AppendFrameHeader appends the header of one final, unmasked frame carrying
// n payload bytes. The payload is appended by the caller.
func AppendFrameHeader(dst []byte, op Opcode, n int) []byte {
	b0 := byte(0x80) | byte(op)
	switch {
	case n <= 125:
		return append(dst, b0, byte(n))
	case n <= 0xffff:
		return append(dst, b0, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, 127)
		return binary.BigEndian.AppendUint64(dst, uint64(n))
	}
}

// AppendFrame appends one final, unmasked (server) frame with payload p to
// dst. It is how a broadcast is encoded once for many connections.
func AppendFrame(dst []byte, op Opcode, p []byte) []byte {
	dst = AppendFrameHeader(dst, op, len(p))
	return append(dst, p...)
}

// FrameHeaderLen is the size of the unmasked frame header for n payload bytes.
func FrameHeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xffff:
		return 4
	}
	return 10
}

// mask XORs p in place with the 4-byte key, starting at key offset 0.
func mask(p []byte, key [4]byte) {
	gws.Cipher(p, key, 0)
}

// newMaskKey returns a fresh client masking key.
func newMaskKey() [4]byte {
	return gws.NewMask()
}
