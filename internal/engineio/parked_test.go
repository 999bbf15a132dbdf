package engineio

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// rawClient speaks HTTP/1.1 to the test server over one TCP connection, so
// a test sees what goes over the wire and that a connection is reused.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func (e *testEnv) rawClient() *rawClient {
	e.t.Helper()
	nc, err := net.Dial("tcp", e.hs.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = nc.Close() })
	return &rawClient{t: e.t, nc: nc, br: bufio.NewReader(nc)}
}

// send writes raw request bytes.
func (c *rawClient) send(req string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, req); err != nil {
		c.t.Fatal(err)
	}
}

// get sends a GET of query with extra header lines.
func (c *rawClient) get(query string, header ...string) {
	c.send("GET /socket.io/?" + query + " HTTP/1.1\r\nHost: test\r\n" + strings.Join(header, "") + "\r\n")
}

// read reads one response: status, headers, body.
func (c *rawClient) read() (int, http.Header, string) {
	c.t.Helper()
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

// waitParked waits until c has a parked poll (its connection hijacked).
func waitParked(t *testing.T, c *Conn) {
	t.Helper()
	waitUntil(t, "a parked poll", func() bool {
		return locked(c, func(c *Conn) bool { return c.poll != nil && c.poll.wake == nil })
	})
}

// cors sets the headers a CORS middleware would, as httpapi's does.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" {
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Add("Vary", "Origin")
		}
		next.ServeHTTP(w, r)
	})
}

// TestParkedPollAnswerAndReuse: a waiting poll is parked; its answer has
// the same status, headers (the middleware's among them) and payload as
// net/http's, and the connection then serves the next request.
func TestParkedPollAnswerAndReuse(t *testing.T) {
	e := newEnvWith(t, Config{}, cors)
	sid, r := e.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	origin := "Origin: http://app.example\r\n"

	// What net/http answers when there is something to send at once.
	if err := r.conn.Send(TextMessage([]byte("a"))); err != nil {
		t.Fatal(err)
	}
	c := e.rawClient()
	c.get(q, origin)
	st, wantH, body := c.read()
	if st != 200 || body != "4a" {
		t.Fatalf("immediate poll: %d %q", st, body)
	}

	// Parked, on the same connection.
	c.get(q, origin)
	waitParked(t, r.conn)
	if err := r.conn.Send(TextMessage([]byte("b")), TextMessage([]byte("c"))); err != nil {
		t.Fatal(err)
	}
	st, h, body := c.read()
	if st != 200 || body != "4b\x1e4c" {
		t.Fatalf("parked poll: %d %q", st, body)
	}
	for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Vary", "Cache-Control", "Content-Type"} {
		if h.Get(k) != wantH.Get(k) || h.Get(k) == "" {
			t.Errorf("%s: %q, net/http's %q", k, h.Get(k), wantH.Get(k))
		}
	}
	if h.Get("Date") == "" || h.Get("Content-Length") != "5" {
		t.Errorf("Date %q, Content-Length %q", h.Get("Date"), h.Get("Content-Length"))
	}

	// Handed back: the connection serves a POST, then parks again.
	c.send("POST /socket.io/?" + q + " HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n4x")
	if st, _, body := c.read(); st != 200 || body != "ok" {
		t.Fatalf("post on the handed-back connection: %d %q", st, body)
	}
	r.wantMsg(t, "x", false)
	c.get(q, origin)
	waitParked(t, r.conn)
	r.conn.Close()
	if st, _, body := c.read(); st != 200 || body != "1" {
		t.Fatalf("close while parked: %d %q", st, body)
	}
	r.wantClose(t, ReasonForcedClose)
}

// TestParkedPollClientGone: a client that goes away while its poll is
// parked ends the session (Node: "poll connection closed prematurely").
func TestParkedPollClientGone(t *testing.T) {
	e := newEnv(t, Config{})
	sid, r := e.handshakeV4()
	c := e.rawClient()
	c.get("EIO=4&transport=polling&sid=" + sid)
	waitParked(t, r.conn)
	_ = c.nc.Close()
	r.wantClose(t, ReasonTransportError)
	waitCount(t, e.srv, 0)
}

// TestParkedPollBytesAhead: a request sent behind a parked poll (HTTP
// pipelining) is left for net/http, which serves it after the answer.
func TestParkedPollBytesAhead(t *testing.T) {
	e := newEnv(t, Config{})
	sid, r := e.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	c := e.rawClient()
	c.get(q)
	waitParked(t, r.conn)
	c.send("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: test\r\n\r\n") // a handshake
	if err := r.conn.Send(TextMessage([]byte("a"))); err != nil {
		t.Fatal(err)
	}
	if st, _, body := c.read(); st != 200 || body != "4a" {
		t.Fatalf("parked poll: %d %q", st, body)
	}
	if st, _, body := c.read(); st != 200 || !strings.HasPrefix(body, "0{") {
		t.Fatalf("request behind it: %d %q", st, body)
	}
	if !isOpen(r.conn) {
		t.Fatal("session closed")
	}
}

// TestParkedPollsBroadcast: a broadcast answers every parked poll (in one
// batch) and the connections serve their next polls.
func TestParkedPollsBroadcast(t *testing.T) {
	e := newEnv(t, Config{})
	var conns []*Conn
	var clients []*rawClient
	var queries []string
	for range 5 {
		sid, r := e.handshakeV4()
		q := "EIO=4&transport=polling&sid=" + sid
		c := e.rawClient()
		c.get(q)
		waitParked(t, r.conn)
		conns, clients, queries = append(conns, r.conn), append(clients, c), append(queries, q)
	}
	for round := range 2 {
		e.srv.Broadcast(conns, TextMessage([]byte("hi")))
		for i, c := range clients {
			if st, _, body := c.read(); st != 200 || body != "4hi" {
				t.Fatalf("round %d, client %d: %d %q", round, i, st, body)
			}
			c.get(queries[i])
			waitParked(t, conns[i])
		}
	}
}

// TestParkedPollNotParkable: HTTP/1.0 and "Connection: close" polls wait on
// their goroutine, with net/http's answer.
func TestParkedPollNotParkable(t *testing.T) {
	e := newEnv(t, Config{})
	for _, req := range []string{
		"GET /socket.io/?%s HTTP/1.0\r\nHost: test\r\n\r\n",
		"GET /socket.io/?%s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
	} {
		sid, r := e.handshakeV4()
		c := e.rawClient()
		c.send(strings.Replace(req, "%s", "EIO=4&transport=polling&sid="+sid, 1))
		waitPoll(t, r.conn)
		if locked(r.conn, func(c *Conn) bool { return c.poll.wake == nil }) {
			t.Fatalf("%q: parked", req)
		}
		if err := r.conn.Send(TextMessage([]byte("a"))); err != nil {
			t.Fatal(err)
		}
		if st, _, body := c.read(); st != 200 || body != "4a" {
			t.Fatalf("%q: %d %q", req, st, body)
		}
	}
}

// TestParkedPollShutdown: Shutdown answers a parked poll with the close
// packet, and the connection is closed once the hand-back listener is.
func TestParkedPollShutdown(t *testing.T) {
	e := newEnv(t, Config{})
	sid, r := e.handshakeV4()
	c := e.rawClient()
	c.get("EIO=4&transport=polling&sid=" + sid)
	waitParked(t, r.conn)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _, body := c.read(); st != 200 || body != "1" {
		t.Fatalf("parked poll at shutdown: %d %q", st, body)
	}
	r.wantClose(t, ReasonServerShutdown)
}
