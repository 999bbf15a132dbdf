package socketio

import (
	"testing"
	"unsafe"
)

// TestClientSize: a Socket.IO client stays in the 144-byte size class and
// a socket in the 160-byte one (ADR 0029, ADR 0032).
func TestClientSize(t *testing.T) {
	if n := unsafe.Sizeof(client{}); n > 144 {
		t.Fatalf("client is %d bytes", n)
	}
	if n := unsafe.Sizeof(Socket{}); n > 160 {
		t.Fatalf("Socket is %d bytes", n)
	}
}
