package socketio

import (
	"bytes"
	"time"
)

// Observer is told what the Socket.IO layer does, for metrics (ADR 0024).
// Its methods are called on hot paths from many goroutines: they must be
// cheap (an atomic add, a histogram observation), never block and never call
// back into the server. A nil Config.Observer costs one comparison per call
// site. A broadcast is reported once, with its recipient count, never once
// per recipient.
type Observer interface {
	// ConnectRefused: a CONNECT was answered with CONNECT_ERROR; reason is
	// one of the Refused* constants, or what the middleware's error names
	// (RefusalReason).
	ConnectRefused(reason string)
	// EventReceived: a client sent event (any name: the observer bounds
	// the names it counts).
	EventReceived(event string)
	// EventsSent: event was handed to n sockets' connections (a broadcast's
	// recipients on this node, or 1 for Socket.Emit). event is "" when it
	// could not be read from the packet.
	EventsSent(event string, n int)
	// Broadcast: a broadcast (or a broadcast asking for acks) was handed to
	// this node's recipients sockets, which took took (the engine queues
	// it, and writes small rooms inline). Not called for a broadcast with
	// no recipient on this node.
	Broadcast(recipients int, took time.Duration)
	// BrokerPublished: a broadcast was handed to the broker in took; err is
	// what the broker answered.
	BrokerPublished(took time.Duration, err error)
	// RecoveryAttempted and RecoverySucceeded: a client asked for
	// connection-state recovery, and was recovered (ADR 0023).
	RecoveryAttempted()
	RecoverySucceeded()
}

// Why a CONNECT was refused (Observer.ConnectRefused), besides the reasons
// middleware errors name.
const (
	// RefusedInvalidNamespace: the namespace does not exist.
	RefusedInvalidNamespace = "invalid_namespace"
	// RefusedConnectTooLarge: the CONNECT was over MaxConnectBytes.
	RefusedConnectTooLarge = "connect_too_large"
	// RefusedMiddleware: a middleware refused it with an error that names
	// no reason.
	RefusedMiddleware = "middleware"
)

// RefusalReason returns the reason err names (an error with a
// RefusalReason() string method, as the realtime gateway's are), else
// RefusedMiddleware. Reasons become metric labels: they must be a few
// constants, never a value a client chose.
func RefusalReason(err error) string {
	if r, ok := err.(interface{ RefusalReason() string }); ok {
		return r.RefusalReason()
	}
	return RefusedMiddleware
}

// NamespaceCount is what one namespace holds on this node.
type NamespaceCount struct {
	Namespace string
	Sockets   int // connected sockets
	Rooms     int // rooms joined by at least one socket (not the sockets' own)
}

// NamespaceCounts returns the sockets and rooms of every namespace on this
// node.
func (s *Server) NamespaceCounts() []NamespaceCount {
	s.mu.RLock()
	nsps := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		nsps = append(nsps, n)
	}
	s.mu.RUnlock()
	out := make([]NamespaceCount, 0, len(nsps))
	for _, n := range nsps {
		n.mu.RLock()
		out = append(out, NamespaceCount{Namespace: n.name, Sockets: len(n.sockets), Rooms: len(n.rooms)})
		n.mu.RUnlock()
	}
	return out
}

// RecoveryAttempted tells the observer that a client asked for
// connection-state recovery (for the recovery code of ADR 0023).
func (s *Server) RecoveryAttempted() {
	if o := s.cfg.Observer; o != nil {
		o.RecoveryAttempted()
	}
}

// RecoverySucceeded tells the observer that a client was recovered.
func (s *Server) RecoverySucceeded() {
	if o := s.cfg.Observer; o != nil {
		o.RecoverySucceeded()
	}
}

// observeFanout reports a fan-out of p to n sockets begun at start: one
// call per broadcast, whatever n.
func (s *Server) observeFanout(o Observer, n int, p *Packet, start time.Time) {
	o.Broadcast(n, time.Since(start))
	if p.Type == PacketEvent || p.Type == PacketBinaryEvent {
		o.EventsSent(p.eventName(), n)
	}
}

func (s *Server) connectRefused(reason string) {
	if o := s.cfg.Observer; o != nil {
		o.ConnectRefused(reason)
	}
}

// eventName returns the event name of an EVENT packet: the one it was
// encoded with, or read from its text (a packet from another node), "" when
// it cannot be read without unescaping.
func (p *Packet) eventName() string {
	if p.event != "" {
		return p.event
	}
	t := p.Text
	i := bytes.IndexByte(t, '[')
	if i < 0 || i+1 >= len(t) || t[i+1] != '"' {
		return ""
	}
	t = t[i+2:]
	j := bytes.IndexByte(t, '"')
	if j < 0 || bytes.IndexByte(t[:j], '\\') >= 0 {
		return ""
	}
	return string(t[:j])
}
