package engineio

import (
	"bufio"
	"crypto/tls"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
)

// handshakeInfo is what a session keeps of its handshake request, by value
// in the Conn: the request target, the headers applications read
// (Config.HandshakeHeaders), host, RemoteAddr and TLS state; not the request
// itself, its other headers, its body, nor its context (which ends with the
// handler and, through its values, would keep the router's and middleware's
// per-request state alive for the session). The target and the headers are
// kept as text, one string each, rather than as a url.URL and a map of
// slices: a third of the memory, for a parse on each Request call (made when
// a socket connects, rarely after). What is kept is capped by
// Config.MaxHandshakeBytes, so a client cannot make a session hold a large
// header block for its whole life.
type handshakeInfo struct {
	target string // path and query, as the handler saw them
	header string // the kept headers in wire form
	host   string
	remote string
	tls    *tls.ConnectionState
}

// newHandshakeInfo takes what a session keeps of r. n is its size; ok is
// false when it exceeds max (nothing is copied then).
func newHandshakeInfo(r *http.Request, keep []string, max int) (h handshakeInfo, n int, ok bool) {
	target := r.URL.RequestURI()
	n = len(target) + len(r.Host)
	for _, k := range keep {
		for _, v := range r.Header[k] {
			n += len(k) + len(v) + len(": \r\n")
		}
	}
	if n > max {
		return handshakeInfo{}, n, false
	}
	var b strings.Builder
	b.Grow(n - len(target) - len(r.Host))
	for _, k := range keep {
		for _, v := range r.Header[k] {
			// net/http refuses CR and LF in header values; a request built
			// by hand (an in-process caller) might carry them.
			if strings.ContainsAny(v, "\r\n") {
				v = strings.Map(func(r rune) rune {
					if r == '\r' || r == '\n' {
						return ' '
					}
					return r
				}, v)
			}
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\r\n")
		}
	}
	return handshakeInfo{target: target, header: b.String(), host: r.Host, remote: r.RemoteAddr, tls: r.TLS}, n, true
}

// handshakeStrings keeps the request target and host of the last
// handshake, so that sessions whose are the same (every client of an app
// opening a WebSocket at once: "/socket.io/?EIO=4&transport=websocket")
// share one copy instead of keeping one each. A polling handshake's target
// carries socket.io-client's timestamp (t=...) and stays its own.
type handshakeStrings struct {
	mu           sync.Mutex
	target, host string
}

// share returns h with its target and host replaced by equal strings
// already kept, and keeps h's for the next handshake.
func (s *handshakeStrings) share(h handshakeInfo) handshakeInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.target == s.target {
		h.target = s.target
	} else {
		s.target = h.target
	}
	if h.host == s.host {
		h.host = s.host
	} else {
		s.host = h.host
	}
	return h
}

// request rebuilds the handshake request (a GET, without a body).
func (h *handshakeInfo) request() *http.Request {
	u, err := url.ParseRequestURI(h.target)
	if err != nil { // it was parsed once already
		u = &url.URL{Path: "/"}
	}
	header, err := textproto.NewReader(bufio.NewReader(strings.NewReader(h.header + "\r\n"))).ReadMIMEHeader()
	if err != nil && header == nil {
		header = textproto.MIMEHeader{}
	}
	return &http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header(header),
		Body:       http.NoBody,
		Host:       h.host,
		RemoteAddr: h.remote,
		RequestURI: h.target,
		TLS:        h.tls,
	}
}
