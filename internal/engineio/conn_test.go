package engineio

import (
	"testing"
	"unsafe"
)

// TestConnSize: a WebSocket session's Conn stays in the 192-byte size
// class; what polling and the upgrade from it need is in polled (ADR 0032).
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 192 {
		t.Fatalf("Conn is %d bytes", n)
	}
}
