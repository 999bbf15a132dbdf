package ws

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	gws "github.com/gobwas/ws"
)

// UpgradeOptions configures Upgrade.
type UpgradeOptions struct {
	// CheckOrigin, when set, must return true for the upgrade to proceed;
	// otherwise Upgrade answers 403.
	CheckOrigin func(r *http.Request) bool
	// Header is added to the 101 response.
	Header http.Header
	// Timeout bounds writing the 101 response (0: none).
	Timeout time.Duration
	// TakeOver moves a plain TCP connection's socket out of the standard
	// library's connection once the handshake is done (Linux): the Conn
	// keeps the bare descriptor, and the net.Conn, its addresses and its
	// place in the runtime's poller are released. Reads and writes that
	// must wait are slower (a duplicate descriptor per wait): set it where
	// the connection is read through a Poller and written with
	// WriteFramesNow or a Batcher, as the Engine.IO server does (ADR 0032).
	// An Adopter in the request's context (WithAdopter) is told.
	TakeOver bool
}

// An Adopter is told when Upgrade takes a socket over from the net.Conn
// the HTTP server hijacked (UpgradeOptions.TakeOver), before that net.Conn
// is closed: s.Open reports from then on whether the socket is open. A
// connection limiter uses it to keep counting the connection.
type Adopter interface {
	Adopt(old net.Conn, s interface{ Open() bool })
}

type adopterKey struct{}

// WithAdopter returns ctx carrying a, for Upgrade. Set it as the HTTP
// server's ConnContext so that every request's context has it.
func WithAdopter(ctx context.Context, a Adopter) context.Context {
	return context.WithValue(ctx, adopterKey{}, a)
}

// Upgrade turns an HTTP request into a server-side WebSocket connection. It
// hijacks the connection, clears any deadline the HTTP server left on it,
// and writes the 101 response; on a bad request it writes the error response
// (400, 403 or 426) itself and returns an error.
// net/http's buffers are dropped: an idle Conn holds no read or write buffer.
func Upgrade(w http.ResponseWriter, r *http.Request, opts UpgradeOptions) (*Conn, error) {
	if opts.CheckOrigin != nil && !opts.CheckOrigin(r) {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return nil, fmt.Errorf("ws: upgrade: origin %q not allowed", r.Header.Get("Origin"))
	}
	u := gws.HTTPUpgrader{Timeout: opts.Timeout}
	if opts.Header != nil {
		u.Header = opts.Header
	}
	nc, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			_ = nc.Close()
		}
		return nil, fmt.Errorf("ws: upgrade: %w", err)
	}
	// The HTTP server may have left a read or write deadline on the
	// connection (http.Server's ReadTimeout and WriteTimeout, or a
	// per-request deadline set by middleware): it was the request's, and a
	// WebSocket outlives its request. gobwas/ws clears them before writing
	// the 101 today; clearing here again keeps that from depending on it.
	if err := nc.SetDeadline(time.Time{}); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("ws: upgrade: clear deadlines: %w", err)
	}
	if opts.TakeOver {
		a, _ := r.Context().Value(adopterKey{}).(Adopter)
		if s := takeOver(nc, a); s != nil {
			nc = s
		}
	}
	c := &Conn{nc: nc, r: nc, rc: rawConn(nc), server: true}
	if n := rw.Reader.Buffered(); n > 0 {
		// The client pipelined frames behind its request: read them first.
		pre, _ := rw.Reader.Peek(n)
		c.r = io.MultiReader(strings.NewReader(string(pre)), nc)
	}
	return c, nil
}

// DialOptions configures Dial.
type DialOptions struct {
	// Header is sent with the upgrade request.
	Header http.Header
	// LocalAddr, when set, is the local address to dial from (load tests use
	// several source addresses to open many connections).
	LocalAddr *net.TCPAddr
	// ReadBufferSize is the client's read buffer (default 4096).
	ReadBufferSize int
}

// Dial opens a client-side WebSocket connection to urlStr (ws://, wss://, or
// http(s):// which is mapped to ws(s)://).
func Dial(ctx context.Context, urlStr string, opts DialOptions) (*Conn, error) {
	switch {
	case strings.HasPrefix(urlStr, "http://"):
		urlStr = "ws://" + urlStr[len("http://"):]
	case strings.HasPrefix(urlStr, "https://"):
		urlStr = "wss://" + urlStr[len("https://"):]
	}
	d := gws.Dialer{}
	if opts.Header != nil {
		d.Header = gws.HandshakeHeaderHTTP(opts.Header)
	}
	if opts.LocalAddr != nil {
		nd := net.Dialer{LocalAddr: opts.LocalAddr}
		d.NetDial = nd.DialContext
	}
	nc, br, _, err := d.Dial(ctx, urlStr)
	if err != nil {
		return nil, fmt.Errorf("ws: dial %s: %w", urlStr, err)
	}
	size := opts.ReadBufferSize
	if size <= 0 {
		size = 4096
	}
	c := &Conn{nc: nc, server: false}
	if br != nil {
		// Keep the handshake's reader: it holds frames that came with the 101.
		// br would read from nc once empty: limit it to what it holds.
		c.r = io.MultiReader(io.LimitReader(br, int64(br.Buffered())), bufio.NewReaderSize(nc, size))
	} else {
		c.r = bufio.NewReaderSize(nc, size)
	}
	return c, nil
}

// NewServerConn wraps an established net.Conn (for example one side of
// net.Pipe) as the server side of a WebSocket whose handshake is done. Used by
// tests and benchmarks.
func NewServerConn(nc net.Conn) *Conn { return &Conn{nc: nc, r: nc, rc: rawConn(nc), server: true} }

// NewClientConn wraps an established net.Conn as the client side.
func NewClientConn(nc net.Conn) *Conn {
	return &Conn{nc: nc, r: bufio.NewReader(nc), server: false}
}
