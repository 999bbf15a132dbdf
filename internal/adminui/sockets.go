package adminui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/eventide/realtime/internal/socketio"
)

// eventSockets is the ServerSideEmit (with acks) by which a node asks the
// admin namespaces of the others for their sockets: each answers with its
// own, serialized as the UI reads them (with the transport and client id
// FetchSockets does not carry).
const eventSockets = "adminui:sockets"

// redacted stands for a credential the UI must not show: a token in the
// query (socket.io-client 2.x) or an Authorization or Cookie header.
const redacted = "[redacted]"

// allSockets returns the sockets of every namespace of every node. Nodes
// that do not answer in time are left out (and logged).
func (u *UI) allSockets(ctx context.Context) []any {
	out := u.localSockets()
	replies, err := u.nsp.ServerSideEmitWithAck(ctx, eventSockets)
	if err != nil {
		u.log.Warn("admin UI: some nodes did not send their sockets", "answered", len(replies), "err", err)
	}
	for _, r := range replies {
		if list, ok := r.([]any); ok {
			out = append(out, list...)
		}
	}
	return out
}

// answerSockets answers another node's eventSockets.
func (u *UI) answerSockets(_ []any, ack func(reply any)) {
	if ack != nil {
		ack(u.localSockets())
	}
}

// localSockets serializes this node's sockets, of every namespace.
func (u *UI) localSockets() []any {
	out := []any{}
	for _, n := range u.io.Namespaces() {
		for _, s := range n.Sockets() {
			if m := serialize(s); m != nil {
				out = append(out, m)
			}
		}
	}
	return out
}

// watchSocket follows a socket of any namespace in development mode: its
// connection, its events and its disconnection, with the rooms it leaves.
func (u *UI) watchSocket(s *socketio.Socket) {
	m := serialize(s)
	if m == nil {
		return // gone already
	}
	nsp := s.Namespace().Name()
	u.notify("socket_connected", m, u.timestamp())
	if nsp != u.cfg.Namespace {
		s.OnAny(func(e *socketio.Event) {
			args := append([]any{e.Name}, e.Args...)
			u.notify("event_received", nsp, s.ID(), args, u.timestamp())
		})
	}
	s.OnDisconnecting(func(string) {
		for _, r := range s.Rooms() {
			u.notify("room_left", nsp, r, s.ID(), u.timestamp())
		}
	})
	s.OnDisconnect(func(reason string) {
		u.notify("socket_disconnected", nsp, s.ID(), reason, u.timestamp())
	})
}

// serialize describes s as Node's admin UI does (SerializedSocket), with
// plain values only (so any broker can carry it), or nil when s is gone.
func serialize(s *socketio.Socket) map[string]any {
	rooms := s.Rooms()
	if rooms == nil {
		return nil
	}
	hs := s.Handshake()
	headers := map[string]any{}
	for k, v := range hs.Header {
		k = strings.ToLower(k)
		if k == "authorization" || k == "cookie" {
			headers[k] = redacted
			continue
		}
		headers[k] = strings.Join(v, ", ")
	}
	query := map[string]any{}
	for k, v := range hs.Query {
		if k == "token" {
			query[k] = redacted
		} else if len(v) > 0 {
			query[k] = v[0]
		}
	}
	transport := s.Transport()
	return map[string]any{
		"id":        s.ID(),
		"clientId":  clientID(s.ConnID()),
		"transport": transport,
		"nsp":       s.Namespace().Name(),
		"data":      serializeData(s.Data()),
		"handshake": map[string]any{
			"address": address(hs),
			"headers": headers,
			"query":   query,
			"issued":  hs.Time.UnixMilli(),
			"secure":  hs.Secure,
			"time":    hs.Time.UTC().Format(time.RFC1123),
			"url":     redactURL(hs.URL),
			"xdomain": hs.Header.Get("Origin") != "",
		},
		"rooms": toAny(rooms),
	}
}

// clientID is a short digest of the Engine.IO session id: it groups the
// sockets of one connection without showing the sid, which authenticates
// the client's polling requests.
func clientID(sid string) string {
	sum := sha256.Sum256([]byte(sid))
	return hex.EncodeToString(sum[:6])
}

// address is the client's address as Node's admin UI shows it: the
// proxy's forwarded-for first, else the peer's IP.
func address(hs socketio.Handshake) string {
	for _, h := range []string{"Cf-Connecting-Ip", "X-Forwarded-For"} {
		if v := hs.Header.Get(h); v != "" {
			return v
		}
	}
	if host, _, err := net.SplitHostPort(hs.Address); err == nil {
		return host
	}
	return hs.Address
}

// redactURL is the handshake URL with a token in its query redacted.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	q := u.Query()
	if q.Has("token") {
		q.Set("token", redacted)
		u.RawQuery = q.Encode()
	}
	return u.RequestURI()
}

// serializeData is the socket's data without Node's "_admin" key.
func serializeData(d any) any {
	m, ok := d.(map[string]any)
	if !ok {
		if d == nil {
			return map[string]any{}
		}
		return d
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != "_admin" {
			out[k] = v
		}
	}
	return out
}

func toAny(list []string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}
