//go:build !linux

package ws

import "net"

// takeOver is Linux-only: elsewhere the net.Conn stays (returns nil).
func takeOver(net.Conn, Adopter) net.Conn { return nil }
