package engineio

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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

// needParking skips a test of parked polls when the suite runs with
// parking off (EVENTIDE_TEST_POLL_ON_GOROUTINES).
func needParking(t *testing.T) {
	if os.Getenv("EVENTIDE_TEST_POLL_ON_GOROUTINES") != "" {
		t.Skip("parking turned off")
	}
}

// waitParked waits until c has a parked poll (its connection hijacked).
func waitParked(t *testing.T, c *Conn) {
	t.Helper()
	waitUntil(t, "a parked poll", func() bool {
		return locked(c, func(c *Conn) bool { return c.pendingPollLocked() != nil && c.pendingPollLocked().wake == nil })
	})
}

// sendAndRead sends msg on the session and reads the poll answer on c,
// which must be "4"+msg; what names the answer in a failure.
func sendAndRead(t *testing.T, conn *Conn, c *rawClient, msg, what string) {
	t.Helper()
	if err := conn.Send(TextMessage([]byte(msg))); err != nil {
		t.Fatal(err)
	}
	if _, _, body := c.read(); body != "4"+msg {
		t.Fatalf("%s%q", what, body)
	}
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
	needParking(t)
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
	needParking(t)
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
	needParking(t)
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
	needParking(t)
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
		if locked(r.conn, func(c *Conn) bool { return c.pendingPollLocked().wake == nil }) {
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
	needParking(t)
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

// counting counts the requests that go through net/http to the engine.
type counting struct{ n atomic.Int64 }

func (c *counting) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		cors(next).ServeHTTP(w, r)
	})
}

// TestNextPollReadByEngine: with ReadNextPolls, a parked poll's next GET on
// the same connection is served by the engine (not net/http) with the same
// answer; another Origin, a POST, or a closed session go to net/http.
func TestNextPollReadByEngine(t *testing.T) {
	if os.Getenv("EVENTIDE_TEST_POLL_ON_GOROUTINES") != "" || os.Getenv("EVENTIDE_TEST_NO_NEXT_POLLS") != "" {
		t.Skip("parking or next polls turned off")
	}
	var cnt counting
	e := newEnvWith(t, Config{}, cnt.wrap)
	sid, r := e.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	origin := "Origin: http://app.example\r\n"
	c := e.rawClient()
	c.get(q, origin)
	waitParked(t, r.conn)
	before := cnt.n.Load()
	for i := range 3 {
		msg := strings.Repeat("m", i+1)
		if err := r.conn.Send(TextMessage([]byte(msg))); err != nil {
			t.Fatal(err)
		}
		st, h, body := c.read()
		if st != 200 || body != "4"+msg || h.Get("Access-Control-Allow-Origin") != "http://app.example" {
			t.Fatalf("answer %d: %d %q %v", i, st, body, h)
		}
		c.get(q+"&t=x"+msg, "User-Agent: test\r\nConnection: keep-alive\r\n", origin)
		waitParked(t, r.conn)
	}
	if n := cnt.n.Load(); n != before {
		t.Fatalf("%d next polls went through net/http", n-before)
	}

	// Queued before the next poll comes: answered at once.
	sendAndRead(t, r.conn, c, "a", "answer: ")
	waitUntil(t, "the connection waiting for the next poll", func() bool {
		return locked(r.conn, func(c *Conn) bool { return c.nextPollLocked() != nil })
	})
	if err := r.conn.Send(TextMessage([]byte("b"))); err != nil {
		t.Fatal(err)
	}
	c.get(q, origin)
	if _, _, body := c.read(); body != "4b" {
		t.Fatalf("queued answer: %q", body)
	}
	if n := cnt.n.Load(); n != before {
		t.Fatalf("%d next polls went through net/http", n-before)
	}

	// Another Origin: net/http (and its CORS headers).
	waitUntil(t, "the connection waiting for the next poll", func() bool {
		return locked(r.conn, func(c *Conn) bool { return c.nextPollLocked() != nil })
	})
	c.get(q, "Origin: http://other.example\r\n")
	waitParked(t, r.conn)
	if n := cnt.n.Load(); n != before+1 {
		t.Fatalf("the poll of another origin: %d requests through net/http", n-before)
	}
	if err := r.conn.Send(TextMessage([]byte("c"))); err != nil {
		t.Fatal(err)
	}
	if _, h, body := c.read(); body != "4c" || h.Get("Access-Control-Allow-Origin") != "http://other.example" {
		t.Fatalf("answer: %q %v", body, h)
	}

	// The session ends while the connection waits for its next poll: it
	// goes back to net/http, which serves what comes.
	waitUntil(t, "the connection waiting for the next poll", func() bool {
		return locked(r.conn, func(c *Conn) bool { return c.nextPollLocked() != nil })
	})
	r.conn.closeNow(ReasonForcedClose)
	c.get("EIO=4&transport=polling")
	if st, _, body := c.read(); st != 200 || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake on the handed-back connection: %d %q", st, body)
	}
}

// TestNextPollOverlapAndGone: a client that polls twice on two connections
// gets the overlap error; one that closes its idle connection leaves the
// session alone.
func TestNextPollOverlapAndGone(t *testing.T) {
	needParking(t)
	e := newEnv(t, Config{})
	sid, r := e.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	c := e.rawClient()
	c.get(q)
	waitParked(t, r.conn)
	sendAndRead(t, r.conn, c, "a", "answer: ")
	_ = c.nc.Close() // between polls
	c2 := e.rawClient()
	c2.get(q)
	waitParked(t, r.conn)
	c3 := e.rawClient()
	c3.get(q)
	if st, _, _ := c3.read(); st != 400 {
		t.Fatalf("overlapping poll: %d", st)
	}
	if _, _, body := c2.read(); body != "1" {
		t.Fatalf("overlapped poll: %q", body)
	}
	r.wantClose(t, ReasonTransportError)
}

func TestParseSimpleGet(t *testing.T) {
	ok := "GET /socket.io/?EIO=4&transport=polling&sid=abc&t=1 HTTP/1.1\r\nHost: h\r\nOrigin: http://o\r\nAccept: */*\r\n\r\n"
	g, good := parseSimpleGet([]byte(ok))
	if !good || g.path != "/socket.io/" || g.query != "EIO=4&transport=polling&sid=abc&t=1" || !g.hasOrigin || g.origin != "http://o" {
		t.Fatalf("%+v %v", g, good)
	}
	for _, bad := range []string{
		"",
		"GET /socket.io/?a HTTP/1.1\r\nHost: h\r\n",                       // incomplete
		"GET /socket.io/?a HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\n", // pipelined
		"POST /socket.io/?a HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /socket.io/?a HTTP/1.0\r\nHost: h\r\n\r\n",
		"GET /socket.io/?a HTTP/1.1\r\n\r\n",                       // no Host
		"GET /socket.io/?a HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n", // two
		"GET /socket.io/?a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
		"GET /socket.io/?a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /socket.io/?a HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
		"GET /socket.io/?a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		"GET /socket.io/?a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
		"GET /socket.io/?a HTTP/1.1\r\nHost: h\r\nOrigin: a\r\nOrigin: b\r\n\r\n",
		"GET /socket.io/?a HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",
		"GET /socket.io/?a HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
		"GET /socket.io/?a HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n",
		"GET socket.io HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /so cket HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a\xff HTTP/1.1\r\nHost: h\r\n\r\n",
	} {
		if g, good := parseSimpleGet([]byte(bad)); good {
			t.Errorf("%q parsed: %+v", bad, g)
		}
	}
}

func TestParsePollQuery(t *testing.T) {
	q, ok := parsePollQuery("EIO=3&transport=polling&t=N1&sid=xyz&b64=1")
	if !ok || q.eio != "3" || q.transport != "polling" || q.sid != "xyz" || !q.b64 {
		t.Fatalf("%+v %v", q, ok)
	}
	for _, bad := range []string{"EIO=4&EIO=4", "x=1", "sid=a%20b", "sid=a+b", "EIO=4&&sid=a", "j=0"} {
		if q, ok := parsePollQuery(bad); ok {
			t.Errorf("%q parsed: %+v", bad, q)
		}
	}
}

// FuzzParseSimpleGet: whatever comes, the parser neither panics nor
// accepts a request net/http would read differently: what it accepts is
// one complete GET that net/http parses to the same path and Origin.
func FuzzParseSimpleGet(f *testing.F) {
	f.Add([]byte("GET /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\nHost: h\r\nOrigin: http://o\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
	f.Add([]byte("GET /?a=b HTTP/1.1\r\nhost:h\r\nconnection: Keep-Alive\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, ok := parseSimpleGet(b)
		if !ok {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("accepted %q, net/http: %v", b, err)
		}
		if r.Method != "GET" || r.URL.EscapedPath() != g.path || r.URL.RawQuery != g.query || r.ContentLength > 0 || r.Close {
			t.Fatalf("accepted %q as %+v, net/http: %s %s %q %d %v", b, g, r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.ContentLength, r.Close)
		}
		if o, has := r.Header["Origin"]; has != g.hasOrigin || has && o[0] != g.origin {
			t.Fatalf("accepted %q with Origin %q, net/http: %q", b, g.origin, o)
		}
	})
}

// TestParkedPollUpgrade: an upgrade ends a parked poll with a noop; once it
// is done the polling connection goes back to net/http (its idle timeout),
// not kept for a next poll that will not come.
func TestParkedPollUpgrade(t *testing.T) {
	needParking(t)
	e := newEnv(t, Config{})
	sid, r := e.handshakeV4()
	c := e.rawClient()
	c.get("EIO=4&transport=polling&sid=" + sid)
	waitParked(t, r.conn)
	w := e.dial("EIO=4&transport=websocket&sid=" + sid)
	writeWS(t, w, "2probe")
	if _, got := readWS(t, w); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	if _, _, body := c.read(); body != "6" {
		t.Fatalf("parked poll = %q, want noop", body)
	}
	writeWS(t, w, "5")
	waitTransport(t, r.conn, "websocket")
	waitUntil(t, "the polling connection handed back", func() bool {
		return locked(r.conn, func(c *Conn) bool { return c.nextPollLocked() == nil })
	})
	c.get("EIO=4&transport=polling")
	if st, _, body := c.read(); st != 200 || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake on the handed-back connection: %d %q", st, body)
	}
	_ = r.conn.Send(TextMessage([]byte("after")))
	if _, got := readWS(t, w); got != "4after" {
		t.Fatalf("ws = %q", got)
	}
}

// TestNextPollEdges: the registration of a polling connection is
// edge-triggered (ws.WatchEdges), so bytes the poller reported while
// nobody read them must be reported again, a readable event with nothing
// to read (EAGAIN) must leave the connection waiting, and a read that fills
// the buffer (maybe leaving bytes no new edge would report) goes to
// net/http.
func TestNextPollEdges(t *testing.T) {
	if os.Getenv("EVENTIDE_TEST_POLL_ON_GOROUTINES") != "" || os.Getenv("EVENTIDE_TEST_NO_NEXT_POLLS") != "" {
		t.Skip("parking or next polls turned off")
	}
	var cnt counting
	e := newEnvWith(t, Config{}, cnt.wrap)
	sid, r := e.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	c := e.rawClient()
	_ = c.nc.SetReadDeadline(time.Now().Add(30 * time.Second)) // a hang fails, not times out the suite
	waitNext := func() {
		t.Helper()
		waitUntil(t, "the connection waiting for the next poll", func() bool {
			return locked(r.conn, func(c *Conn) bool { return c.nextPollLocked() != nil })
		})
	}
	c.get(q)
	waitParked(t, r.conn)
	before := cnt.n.Load()

	// The next poll sent behind the parked one (pipelined): the poller
	// reports it while the poll is parked; after the answer it is read
	// all the same, by the engine.
	c.get(q + "&t=2")
	waitUntil(t, "the bytes ahead seen", func() bool {
		return locked(r.conn, func(c *Conn) bool { p := c.pendingPollLocked(); return p != nil && p.edge })
	})
	sendAndRead(t, r.conn, c, "a", "answer: ")
	waitParked(t, r.conn)
	sendAndRead(t, r.conn, c, "b", "answer to the pipelined poll: ")
	if n := cnt.n.Load(); n != before {
		t.Fatalf("%d next polls went through net/http", n-before)
	}

	// Readable with nothing to read: the connection waits again, and
	// its next poll is still read by the engine.
	waitNext()
	var p *waitingPoll
	locked(r.conn, func(c *Conn) bool { p, c.pl.next = c.pl.next, nil; return true })
	r.conn.readNext(p)
	if !locked(r.conn, func(c *Conn) bool { return c.nextPollLocked() == p }) {
		t.Fatal("not waiting for the next poll after EAGAIN")
	}
	c.get(q)
	waitParked(t, r.conn)
	sendAndRead(t, r.conn, c, "c", "answer: ")
	if n := cnt.n.Load(); n != before {
		t.Fatalf("%d next polls went through net/http", n-before)
	}

	// A poll that fills the read buffer exactly: net/http's.
	waitNext()
	head := "GET /socket.io/?" + q + " HTTP/1.1\r\nHost: test\r\nX-Pad: "
	c.send(head + strings.Repeat("p", maxNextPollBytes-len(head)-4) + "\r\n\r\n")
	waitParked(t, r.conn)
	if n := cnt.n.Load(); n != before+1 {
		t.Fatalf("the full-buffer poll: %d requests through net/http", n-before)
	}
	sendAndRead(t, r.conn, c, "d", "answer: ")
}
