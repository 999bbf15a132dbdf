package engineio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/eventide/realtime/internal/ws"
)

func eio3() Config { return Config{AllowEIO3: true} }

func TestHandshakePollingV4(t *testing.T) {
	e := newEnv(t, eio3())
	st, h, body := e.do(http.MethodGet, "EIO=4&transport=polling&t=abc", "", "")
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	if ct := h.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := h.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	o := parseOpen(t, body)
	if len(o.Upgrades) != 1 || o.Upgrades[0] != "websocket" || o.PingInterval != 25000 || o.PingTimeout != 20000 || o.MaxPayload != 1000000 {
		t.Errorf("open = %+v", o)
	}
	r := e.nextConn()
	if r.conn.ID() != o.SID || r.conn.Protocol() != 4 || r.conn.Transport() != "polling" {
		t.Errorf("conn = %s %d %s", r.conn.ID(), r.conn.Protocol(), r.conn.Transport())
	}
	if r.conn.Request().URL.Query().Get("t") != "abc" {
		t.Errorf("Request() lost the query")
	}
	if e.srv.Count() != 1 {
		t.Errorf("Count = %d", e.srv.Count())
	}
}

func TestHandshakePollingV3(t *testing.T) {
	e := newEnv(t, eio3())
	st, body := e.get("EIO=3&transport=polling")
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	n, rest, ok := strings.Cut(body, ":")
	if !ok || n != fmt.Sprint(len(rest)) {
		t.Fatalf("v3 payload %q", body)
	}
	o := parseOpen(t, rest)
	if o.Upgrades[0] != "websocket" {
		t.Errorf("open = %+v", o)
	}
	if r := e.nextConn(); r.conn.Protocol() != 3 {
		t.Errorf("protocol %d", r.conn.Protocol())
	}
}

func TestSIDsAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newSID()
		if len(id) != 20 || strings.ContainsAny(id, "+/=") || seen[id] {
			t.Fatalf("bad or repeated sid %q", id)
		}
		seen[id] = true
	}
}

func TestPollingRoundTripV4(t *testing.T) {
	e := newEnv(t, eio3())
	sid, r := e.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	st, h, body := e.do(http.MethodPost, q, "text/plain;charset=UTF-8", "4hello\x1e4wörld\x1ebAQID\x1e6")
	if st != 200 || body != "ok" || h.Get("Content-Type") != "text/html" {
		t.Fatalf("post: %d %q %q", st, body, h.Get("Content-Type"))
	}
	r.wantMsg(t, "hello", false)
	r.wantMsg(t, "wörld", false)
	r.wantMsg(t, "\x01\x02\x03", true)

	if err := r.conn.Send(TextMessage([]byte(`2["ev",1]`)), BinaryMessage([]byte{1, 2, 3})); err != nil {
		t.Fatal(err)
	}
	if st, body := e.get(q); st != 200 || body != "42[\"ev\",1]\x1ebAQID" {
		t.Fatalf("poll: %d %q", st, body)
	}
	// A poll with nothing queued waits until something is sent.
	done := make(chan string, 1)
	go func() { _, b := e.get(q); done <- b }()
	waitPoll(t, r.conn)
	if err := r.conn.Send(TextMessage([]byte("late"))); err != nil {
		t.Fatal(err)
	}
	if b := <-done; b != "4late" {
		t.Fatalf("poll = %q", b)
	}
	r.wantOpen(t)
}

func TestPollingRoundTripV3String(t *testing.T) {
	e := newEnv(t, eio3())
	sid, r := e.handshakeV3()
	q := "EIO=3&transport=polling&sid=" + sid
	// "€" is 1 UTF-16 unit, "😀" is 2.
	if st, body := e.post(q, "6:4hello4:4€😀10:b4AQIDBA==0:"); st != 200 || body != "ok" {
		t.Fatalf("post: %d %q", st, body)
	}
	r.wantMsg(t, "hello", false)
	r.wantMsg(t, "€😀", false)
	r.wantMsg(t, "\x01\x02\x03\x04", true)

	_ = r.conn.Send(TextMessage([]byte("a€😀")))
	if st, body := e.get(q); st != 200 || body != "5:4a€😀" {
		t.Fatalf("poll: %d %q", st, body)
	}
	// With b64=1 binary is base64 text; without it, a binary payload.
	_ = r.conn.Send(TextMessage([]byte("x")), BinaryMessage([]byte{1, 2, 3}))
	if st, body := e.get(q + "&b64=1"); st != 200 || body != "2:4x6:b4AQID" {
		t.Fatalf("poll b64: %d %q", st, body)
	}
}

func TestPollingV3BinaryPayload(t *testing.T) {
	e := newEnv(t, eio3())
	sid, r := e.handshakeV3()
	q := "EIO=3&transport=polling&sid=" + sid
	body := []byte{0, 6, 0xff, '4', 'h', 'e', 'l', 'l', 'o', 1, 4, 0xff, 4, 1, 2, 3}
	st, _, res := e.do(http.MethodPost, q, "application/octet-stream", string(body))
	if st != 200 || res != "ok" {
		t.Fatalf("post: %d %q", st, res)
	}
	r.wantMsg(t, "hello", false)
	r.wantMsg(t, "\x01\x02\x03", true)

	_ = r.conn.Send(TextMessage([]byte("hi")), BinaryMessage([]byte{9, 8}))
	st, h, res := e.do(http.MethodGet, q, "", "")
	want := string([]byte{0, 3, 0xff, '4', 'h', 'i', 1, 3, 0xff, 4, 9, 8})
	if st != 200 || res != want || h.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("poll: %d %q %q", st, res, h.Get("Content-Type"))
	}
}

func TestWebSocketSessionV4(t *testing.T) {
	e := newEnv(t, eio3())
	c := e.dial("EIO=4&transport=websocket")
	_, open := readWS(t, c)
	o := parseOpen(t, open)
	if len(o.Upgrades) != 0 {
		t.Errorf("upgrades = %v", o.Upgrades)
	}
	r := e.nextConn()
	if r.conn.Transport() != "websocket" || r.conn.ID() != o.SID {
		t.Fatalf("conn %s %s", r.conn.Transport(), r.conn.ID())
	}
	writeWS(t, c, "4hello")
	r.wantMsg(t, "hello", false)
	if err := c.WriteMessage(ws.OpBinary, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	r.wantMsg(t, "\x01\x02", true)

	_ = r.conn.Send(TextMessage([]byte("a")), BinaryMessage([]byte{7}), TextMessage([]byte("b")))
	for _, want := range []struct {
		op   ws.Opcode
		data string
	}{{ws.OpText, "4a"}, {ws.OpBinary, "\x07"}, {ws.OpText, "4b"}} {
		op, got := readWS(t, c)
		if op != want.op || got != want.data {
			t.Fatalf("got %v %q, want %v %q", op, got, want.op, want.data)
		}
	}
	_ = c.Close()
	r.wantClose(t, ReasonTransportClose)
	waitCount(t, e.srv, 0)
}

func TestWebSocketSessionV3(t *testing.T) {
	e := newEnv(t, eio3())
	c := e.dial("EIO=3&transport=websocket")
	readWS(t, c)
	r := e.nextConn()
	if err := c.WriteMessage(ws.OpBinary, []byte{4, 1, 2}); err != nil {
		t.Fatal(err)
	}
	r.wantMsg(t, "\x01\x02", true)
	writeWS(t, c, "2")
	if _, got := readWS(t, c); got != "3" {
		t.Fatalf("pong = %q", got)
	}
	_ = r.conn.Send(BinaryMessage([]byte{5}))
	if op, got := readWS(t, c); op != ws.OpBinary || got != "\x04\x05" {
		t.Fatalf("binary = %v %q", op, got)
	}
	writeWS(t, c, "1")
	r.wantClose(t, ReasonTransportClose)
}

func waitCount(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for s.Count() != n {
		if time.Now().After(deadline) {
			t.Fatalf("Count = %d, want %d", s.Count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testUpgrade(t *testing.T, proto int) {
	e := newEnv(t, Config{AllowEIO3: true, PingInterval: time.Hour})
	var sid string
	var r *recorder
	if proto == 4 {
		sid, r = e.handshakeV4()
	} else {
		sid, r = e.handshakeV3()
	}
	q := fmt.Sprintf("EIO=%d&transport=polling&sid=%s", proto, sid)
	pending := make(chan string, 1)
	go func() { _, b := e.get(q); pending <- b }()
	waitPoll(t, r.conn)

	c := e.dial(fmt.Sprintf("EIO=%d&transport=websocket&sid=%s", proto, sid))
	writeWS(t, c, "2probe")
	if _, got := readWS(t, c); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	noop := "6"
	if proto == 3 {
		noop = "1:6"
	}
	select {
	case b := <-pending:
		if b != noop {
			t.Fatalf("pending poll = %q, want noop", b)
		}
	case <-time.After(guard):
		t.Fatal("pending poll not ended")
	}
	// Messages sent before "5" still go by polling.
	_ = r.conn.Send(TextMessage([]byte("before")))
	if _, b := e.get(q); !strings.HasSuffix(b, "4before") {
		t.Fatalf("poll = %q", b)
	}
	writeWS(t, c, "5")
	waitTransport(t, r.conn, "websocket")
	_ = r.conn.Send(TextMessage([]byte("after")))
	if _, got := readWS(t, c); got != "4after" {
		t.Fatalf("ws = %q", got)
	}
	writeWS(t, c, "4up")
	r.wantMsg(t, "up", false)
	if st, _ := e.get(q); st != 400 {
		t.Fatalf("poll after upgrade: %d, want 400", st)
	}
	// A second WebSocket for the same sid is accepted and closed at once,
	// as Node does; the session goes on.
	second := e.dial(fmt.Sprintf("EIO=%d&transport=websocket&sid=%s", proto, sid))
	_ = second.SetReadDeadline(time.Now().Add(guard))
	if _, _, err := second.ReadMessage(1 << 20); !ws.IsPeerClose(err) {
		t.Fatalf("second websocket: %v, want a close frame", err)
	}
	_ = r.conn.Send(TextMessage([]byte("still")))
	if _, got := readWS(t, c); got != "4still" {
		t.Fatalf("ws after a second websocket = %q", got)
	}
	r.wantOpen(t)
}

func waitTransport(t *testing.T, c *Conn, want string) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for c.Transport() != want {
		if time.Now().After(deadline) {
			t.Fatalf("transport %s, want %s", c.Transport(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestUpgradeV4(t *testing.T) { testUpgrade(t, 4) }
func TestUpgradeV3(t *testing.T) { testUpgrade(t, 3) }

func TestUpgradeTimeout(t *testing.T) {
	e := newEnv(t, Config{UpgradeTimeout: 100 * time.Millisecond, PingInterval: time.Hour})
	sid, r := e.handshakeV4()
	c := e.dial("EIO=4&transport=websocket&sid=" + sid)
	writeWS(t, c, "2probe")
	// The probe's answer, unless the timeout came first (a loaded machine
	// may take longer than it to read "2probe"): either way no "5" follows,
	// and the WebSocket must be closed.
	_ = c.SetReadDeadline(time.Now().Add(guard))
	_, b, err := c.ReadMessage(1 << 20)
	if err == nil {
		if string(b) != "3probe" {
			t.Fatalf("probe answer %q", b)
		}
		_, _, err = c.ReadMessage(1 << 20)
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("probe websocket not closed after the upgrade timeout: %v", err)
	}
	// The session goes on over polling.
	_ = r.conn.Send(TextMessage([]byte("still")))
	if st, b := e.get("EIO=4&transport=polling&sid=" + sid); st != 200 || b != "4still" {
		t.Fatalf("poll = %d %q", st, b)
	}
	if r.conn.Transport() != "polling" {
		t.Fatal("transport changed")
	}
	r.wantOpen(t)
}

func TestHeartbeatV4(t *testing.T) {
	clk := newFakeClock()
	e := newEnv(t, Config{Clock: clk}) // pingInterval 25 s, pingTimeout 20 s
	c := e.dial("EIO=4&transport=websocket")
	readWS(t, c)
	r := e.nextConn()
	for range 3 {
		clk.Advance(25 * time.Second)
		if _, got := readWS(t, c); got != "2" {
			t.Fatalf("want ping, got %q", got)
		}
		writeWS(t, c, "3")
		waitUntil(t, "the pong", func() bool { return locked(r.conn, func(c *Conn) bool { return !c.awaitPong }) })
	}
	// Stop answering: open until pingTimeout has passed, then closed.
	clk.Advance(25 * time.Second)
	if _, got := readWS(t, c); got != "2" {
		t.Fatalf("want ping, got %q", got)
	}
	clk.Advance(20*time.Second - time.Millisecond)
	if !isOpen(r.conn) {
		t.Fatal("closed before pingTimeout")
	}
	clk.Advance(time.Millisecond)
	r.wantClose(t, ReasonPingTimeout)

	// Over polling, a client that never polls times out too.
	_, r2 := e.handshakeV4()
	clk.Advance(45*time.Second - time.Millisecond)
	if !isOpen(r2.conn) {
		t.Fatal("polling session closed before pingInterval + pingTimeout")
	}
	clk.Advance(time.Millisecond)
	r2.wantClose(t, ReasonPingTimeout)
}

func TestHeartbeatV3(t *testing.T) {
	clk := newFakeClock()
	e := newEnv(t, Config{AllowEIO3: true, Clock: clk})
	sid, r := e.handshakeV3()
	q := "EIO=3&transport=polling&sid=" + sid
	// v3 clients ping; each ping gives the session pingInterval +
	// pingTimeout (45 s) more.
	for range 4 {
		clk.Advance(40 * time.Second)
		if st, b := e.post(q, "1:2"); st != 200 || b != "ok" {
			t.Fatalf("ping post: %d %q", st, b)
		}
		if _, b := e.get(q); b != "1:3" {
			t.Fatalf("pong = %q", b)
		}
	}
	clk.Advance(45*time.Second - time.Millisecond)
	if !isOpen(r.conn) {
		t.Fatal("closed before pingInterval + pingTimeout")
	}
	clk.Advance(time.Millisecond)
	r.wantClose(t, ReasonPingTimeout)
	if st, _ := e.post(q, "1:2"); st != 400 {
		t.Fatalf("post after timeout: %d", st)
	}
}

func TestHeartbeatDirection(t *testing.T) {
	e := newEnv(t, eio3())
	c := e.dial("EIO=4&transport=websocket")
	readWS(t, c)
	r := e.nextConn()
	writeWS(t, c, "2") // v4 clients do not ping
	r.wantClose(t, ReasonTransportError)
}

type errResp struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func TestErrors(t *testing.T) {
	e := newEnv(t, Config{AllowRequest: func(r *http.Request) error {
		if r.Header.Get("X-Deny") != "" {
			return errors.New("denied")
		}
		return nil
	}})
	wsSID := func() string {
		c := e.dial("EIO=4&transport=websocket")
		_, open := readWS(t, c)
		e.nextConn()
		return parseOpen(t, open).SID
	}()
	tests := []struct {
		name, method, query string
		header              http.Header
		status, code        int
		message             string
	}{
		{"no transport", "GET", "EIO=4", nil, 400, 0, "Transport unknown"},
		{"transport abc", "GET", "EIO=4&transport=abc", nil, 400, 0, "Transport unknown"},
		{"transport constructor", "GET", "EIO=4&transport=constructor", nil, 400, 0, "Transport unknown"},
		{"transport __proto__", "GET", "EIO=4&transport=__proto__", nil, 400, 0, "Transport unknown"},
		{"transport case", "GET", "EIO=4&transport=Polling", nil, 400, 0, "Transport unknown"},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=abc", nil, 400, 1, "Session ID unknown"},
		{"unknown sid post", "POST", "EIO=4&transport=polling&sid=abc", nil, 400, 1, "Session ID unknown"},
		{"post handshake", "POST", "EIO=4&transport=polling", nil, 400, 2, "Bad handshake method"},
		{"put handshake", "PUT", "EIO=4&transport=polling", nil, 400, 2, "Bad handshake method"},
		{"websocket without upgrade", "GET", "EIO=4&transport=websocket", nil, 400, 3, "Bad request"},
		{"transport mismatch", "GET", "EIO=4&transport=polling&sid=" + wsSID, nil, 400, 3, "Bad request"},
		{"forbidden", "GET", "EIO=4&transport=polling", http.Header{"X-Deny": {"1"}}, 403, 4, "Forbidden"},
		{"no EIO", "GET", "transport=polling", nil, 400, 5, "Unsupported protocol version"},
		{"EIO abc", "GET", "EIO=abc&transport=polling", nil, 400, 5, "Unsupported protocol version"},
		{"EIO 5", "GET", "EIO=5&transport=polling", nil, 400, 5, "Unsupported protocol version"},
		{"EIO 3 not allowed", "GET", "EIO=3&transport=polling", nil, 400, 5, "Unsupported protocol version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.url(tt.query), nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var got errResp
			if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
				t.Fatalf("body: %v", err)
			}
			if res.StatusCode != tt.status || got.Code != tt.code || got.Message != tt.message {
				t.Fatalf("got %d %+v, want %d %d %q", res.StatusCode, got, tt.status, tt.code, tt.message)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	// A failed WebSocket handshake is refused before the upgrade.
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	for _, q := range []string{"EIO=4&transport=abc", "transport=websocket", "EIO=4&transport=websocket&sid=nope"} {
		if _, err := ws.Dial(ctx, e.wsURL(q), ws.DialOptions{}); err == nil {
			t.Errorf("%s: websocket accepted", q)
		}
	}
	// An upgrade with an unknown sid (a node without sticky sessions) is
	// refused as Node's engine.io refuses it: 400, text/html, closed.
	for _, q := range []string{"EIO=4&transport=websocket&sid=nope"} {
		req, _ := http.NewRequest(http.MethodGet, e.url(q), nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 400 || string(body) != "Session ID unknown" || res.Header.Get("Content-Type") != "text/html" || !res.Close {
			t.Errorf("%s: %d %q %v close=%v, want 400 \"Session ID unknown\" text/html, closed", q, res.StatusCode, body, res.Header, res.Close)
		}
	}
	if st, _, _ := e.do(http.MethodOptions, "EIO=4&transport=polling", "", ""); st != 204 {
		t.Errorf("OPTIONS: %d", st)
	}
	if n := e.srv.Count(); n != 1 {
		t.Errorf("Count = %d after refused handshakes, want 1", n)
	}
}

func TestDuplicatePoll(t *testing.T) {
	e := newEnv(t, eio3())
	sid, r := e.handshakeV3()
	q := "EIO=3&transport=polling&sid=" + sid
	first := make(chan string, 1)
	go func() { _, b := e.get(q); first <- b }()
	waitPoll(t, r.conn)
	if st, _ := e.get(q); st != 400 {
		t.Fatalf("second poll: %d", st)
	}
	if b := <-first; b != "1:1" {
		t.Fatalf("first poll = %q, want close packet", b)
	}
	r.wantClose(t, ReasonTransportError)
	if st, b := e.get(q); st != 400 || !strings.Contains(b, `"code":1`) {
		t.Fatalf("poll of closed sid: %d %s", st, b)
	}
}

func TestClientClosePolling(t *testing.T) {
	e := newEnv(t, eio3())
	sid, r := e.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	pending := make(chan string, 1)
	go func() { _, b := e.get(q); pending <- b }()
	waitPoll(t, r.conn)
	if st, b := e.post(q, "1"); st != 200 || b != "ok" {
		t.Fatalf("close post: %d %q", st, b)
	}
	if b := <-pending; b != "6" {
		t.Fatalf("pending poll = %q, want noop", b)
	}
	r.wantClose(t, ReasonTransportClose)
	waitCount(t, e.srv, 0)
}

func TestParseError(t *testing.T) {
	e := newEnv(t, eio3())
	for _, body := range []string{"abc", "", "4a\x1e", "9", "bAQ!!", "7x"} {
		sid, r := e.handshakeV4()
		q := "EIO=4&transport=polling&sid=" + sid
		if st, _ := e.post(q, body); st != 400 {
			t.Fatalf("post %q: %d, want 400", body, st)
		}
		r.wantClose(t, ReasonParseError)
		if st, _ := e.get(q); st != 400 {
			t.Fatalf("poll after parse error: %d", st)
		}
	}
	for _, body := range []string{"abc", "99999999999999999999:4a", "5:4a", "2:b9"} {
		sid, r := e.handshakeV3()
		if st, _ := e.post("EIO=3&transport=polling&sid="+sid, body); st != 400 {
			t.Fatalf("v3 post %q: %d, want 400", body, st)
		}
		r.wantClose(t, ReasonParseError)
	}
	c := e.dial("EIO=4&transport=websocket")
	readWS(t, c)
	r := e.nextConn()
	writeWS(t, c, "abc")
	r.wantClose(t, ReasonParseError)
}

func TestOversizedPayloads(t *testing.T) {
	e := newEnv(t, Config{MaxPayload: 100})
	sid, r := e.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	if st, _ := e.post(q, "4"+strings.Repeat("x", 100)); st != 413 {
		t.Fatalf("oversized post: %d, want 413", st)
	}
	r.wantClose(t, ReasonTransportError)

	// Exactly MaxPayload is fine.
	sid, r = e.handshakeV4()
	if st, _ := e.post("EIO=4&transport=polling&sid="+sid, "4"+strings.Repeat("x", 99)); st != 200 {
		t.Fatalf("post of MaxPayload bytes: %d", st)
	}
	r.wantMsg(t, strings.Repeat("x", 99), false)

	c := e.dial("EIO=4&transport=websocket")
	readWS(t, c)
	r = e.nextConn()
	writeWS(t, c, "4"+strings.Repeat("y", 200))
	_ = c.SetReadDeadline(time.Now().Add(guard))
	_, _, err := c.ReadMessage(1 << 20)
	var ce *ws.CloseError
	if !errors.As(err, &ce) || ce.Code != ws.CloseMessageTooBig {
		t.Fatalf("read after oversized message: %v, want close 1009", err)
	}
	r.wantClose(t, ReasonTransportError)
}

func TestForcedClose(t *testing.T) {
	e := newEnv(t, eio3())
	sid, r := e.handshakeV4()
	_ = r.conn.Send(TextMessage([]byte("bye")))
	r.conn.Close()
	if err := r.conn.Send(TextMessage([]byte("late"))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	// As Node: what was queued first, the close packet in the next poll
	// (socket.io-client handles a close before the packets beside it).
	q := "EIO=4&transport=polling&sid=" + sid
	if _, b := e.get(q); b != "4bye" {
		t.Fatalf("first poll = %q, want the queued message alone", b)
	}
	if !locked(r.conn, func(c *Conn) bool { return c.state == stateClosing }) {
		t.Fatal("closed before the close packet was polled")
	}
	if _, b := e.get(q); b != "1" {
		t.Fatalf("second poll = %q, want the close packet", b)
	}
	r.wantClose(t, ReasonForcedClose)

	// With nothing queued, a pending poll gets the close packet at once.
	sid, r = e.handshakeV4()
	q = "EIO=4&transport=polling&sid=" + sid
	done := make(chan string, 1)
	go func() { _, b := e.get(q); done <- b }()
	waitPoll(t, r.conn)
	r.conn.Close()
	if b := <-done; b != "1" {
		t.Fatalf("pending poll = %q, want the close packet", b)
	}
	r.wantClose(t, ReasonForcedClose)

	c := e.dial("EIO=4&transport=websocket")
	readWS(t, c)
	r = e.nextConn()
	_ = r.conn.Send(TextMessage([]byte("bye")))
	r.conn.Close()
	r.conn.Close()
	if _, got := readWS(t, c); got != "4bye" {
		t.Fatalf("ws = %q", got)
	}
	_ = c.SetReadDeadline(time.Now().Add(guard))
	if _, _, err := c.ReadMessage(1 << 20); !ws.IsPeerClose(err) {
		t.Fatalf("want close frame, got %v", err)
	}
	r.wantClose(t, ReasonForcedClose)
	waitCount(t, e.srv, 0)
}

func TestSendQueueOverflow(t *testing.T) {
	e := newEnv(t, Config{SendQueue: 4})
	_, r := e.handshakeV4()
	for i := range 4 {
		if err := r.conn.Send(TextMessage([]byte{byte('a' + i)})); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.conn.Send(TextMessage([]byte("x"))); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Send = %v, want ErrQueueFull", err)
	}
	r.wantClose(t, ReasonQueueOverflow)
	if err := r.conn.Send(TextMessage([]byte("x"))); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after overflow = %v, want ErrClosed", err)
	}
	waitCount(t, e.srv, 0)
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, eio3())
	var recs []*recorder
	for range 3 {
		_, r := e.handshakeV4()
		recs = append(recs, r)
	}
	c := e.dial("EIO=4&transport=websocket")
	readWS(t, c)
	recs = append(recs, e.nextConn())
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.wantClose(t, ReasonServerShutdown)
	}
	if e.srv.Count() != 0 {
		t.Fatalf("Count = %d", e.srv.Count())
	}
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if st, _ := e.get("EIO=4&transport=polling"); st != http.StatusServiceUnavailable {
		t.Fatalf("handshake after shutdown: %d", st)
	}
}

// TestOpenSendsFirst checks that messages sent from the open callback follow
// the open packet on both transports.
func TestOpenSendsFirst(t *testing.T) {
	srv := NewServer(Config{}, func(c *Conn) Receiver {
		_ = c.Send(TextMessage([]byte("0")))
		return &recorder{msgs: make(chan received, 8), closed: make(chan string, 1)}
	})
	e := &testEnv{t: t, srv: srv}
	e.hs = newHTTPServer(t, srv)
	_, body := e.get("EIO=4&transport=polling")
	if !strings.HasPrefix(body, "0{") || !strings.HasSuffix(body, "\x1e40") {
		t.Fatalf("handshake = %q", body)
	}
	c := e.dial("EIO=4&transport=websocket")
	readWS(t, c)
	if _, got := readWS(t, c); got != "40" {
		t.Fatalf("after open: %q", got)
	}
}

// TestConcurrentSendsKeepOrder sends from several goroutines to one
// WebSocket session; each sender's messages arrive complete and in order,
// and a multi-message Send is never interleaved.
func TestConcurrentSendsKeepOrder(t *testing.T) {
	e := newEnv(t, Config{SendQueue: 100000})
	c := e.dial("EIO=4&transport=websocket")
	readWS(t, c)
	r := e.nextConn()
	const senders, each = 4, 300
	for s := range senders {
		go func() {
			for i := range each {
				a := TextMessage(fmt.Appendf(nil, "%d:%d:a", s, i))
				b := TextMessage(fmt.Appendf(nil, "%d:%d:b", s, i))
				if err := r.conn.Send(a, b); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	next := make([]int, senders)
	var pendingB string
	for range senders * each * 2 {
		_, got := readWS(t, c)
		if pendingB != "" {
			if got != pendingB {
				t.Fatalf("got %q, want %q right after its pair", got, pendingB)
			}
			pendingB = ""
			continue
		}
		var s, i int
		var part string
		if _, err := fmt.Sscanf(strings.ReplaceAll(got[1:], ":", " "), "%d %d %s", &s, &i, &part); err != nil || part != "a" {
			t.Fatalf("unexpected %q", got)
		}
		if i != next[s] {
			t.Fatalf("sender %d: got %d, want %d", s, i, next[s])
		}
		next[s]++
		pendingB = fmt.Sprintf("4%d:%d:b", s, i)
	}
}

// TestHandshakeRequestKept checks that Request rebuilds what the session
// keeps of its handshake (path, query, the headers applications read with
// every value, host, address), though it keeps it as text, and that the
// other headers are dropped.
func TestHandshakeRequestKept(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://example.test/socket.io/?EIO=4&transport=polling&token=a%20b&x=1&x=2", nil)
	r.Header.Set("Authorization", "Bearer abc.def")
	r.Header.Add("X-Forwarded-For", "10.0.0.1")
	r.Header.Add("X-Forwarded-For", "10.0.0.2")
	r.Header.Set("Cookie", "a=1; b=2")
	r.Header.Set("Origin", "https://app.example")
	r.Header.Set("X-Junk", strings.Repeat("j", 100_000))
	r.Header.Set("Accept-Encoding", "gzip")
	r.RemoteAddr = "127.0.0.9:4242"
	h, n, ok := newHandshakeInfo(r, defaultHandshakeHeaders[:], 8192)
	if !ok || n > 300 {
		t.Fatalf("kept %d bytes (ok %v)", n, ok)
	}
	got := h.request()
	if got.URL.Path != "/socket.io/" || got.URL.Query().Get("token") != "a b" || len(got.URL.Query()["x"]) != 2 {
		t.Errorf("URL = %v", got.URL)
	}
	if got.Header.Get("Authorization") != "Bearer abc.def" || got.Header.Get("Cookie") != "a=1; b=2" || got.Header.Get("Origin") != "https://app.example" {
		t.Errorf("Header = %v", got.Header)
	}
	if m := got.Header.Values("X-Forwarded-For"); len(m) != 2 || m[0] != "10.0.0.1" || m[1] != "10.0.0.2" {
		t.Errorf("X-Forwarded-For = %v", m)
	}
	if len(got.Header) != 4 {
		t.Errorf("kept headers %v, want only Authorization, Cookie, Origin, X-Forwarded-For", got.Header)
	}
	if got.Host != "example.test" || got.RemoteAddr != "127.0.0.9:4242" || got.Method != http.MethodGet {
		t.Errorf("Host %q RemoteAddr %q Method %q", got.Host, got.RemoteAddr, got.Method)
	}
	if len(h.header) > 200 {
		t.Errorf("kept header block of %d bytes", len(h.header))
	}
}

// Sessions opened at different times share the server's one heartbeat
// timer, and each is pinged at its own time; a closed one is forgotten.
func TestHeartbeatSharedTimer(t *testing.T) {
	clk := newFakeClock()
	e := newEnv(t, Config{Clock: clk}) // pingInterval 25 s, pingTimeout 20 s
	type sess struct {
		c *ws.Conn
		r *recorder
	}
	var ss []sess
	for i := range 3 {
		if i > 0 {
			clk.Advance(5 * time.Second)
		}
		c := e.dial("EIO=4&transport=websocket")
		readWS(t, c)
		ss = append(ss, sess{c, e.nextConn()})
	}
	awaiting := func(s sess) bool { return locked(s.r.conn, func(c *Conn) bool { return c.awaitPong }) }
	// Now 10 s: the sessions are due at 25, 30 and 35 s.
	for i, s := range ss {
		clk.Advance(5 * time.Second)
		if i == 0 {
			clk.Advance(10 * time.Second)
		}
		if _, got := readWS(t, s.c); got != "2" {
			t.Fatalf("session %d: want ping, got %q", i, got)
		}
		for j := i + 1; j < len(ss); j++ {
			if awaiting(ss[j]) {
				t.Fatalf("session %d pinged with session %d", j, i)
			}
		}
	}
	// The second closes; the others answer and are pinged again 25 s on.
	ss[1].r.conn.closeNow(ReasonTransportClose)
	ss[1].r.wantClose(t, ReasonTransportClose)
	e.srv.hb.mu.Lock()
	n, left := ss[1].r.conn.hbIndex, len(e.srv.hb.q)
	e.srv.hb.mu.Unlock()
	if n != -1 || left != 2 {
		t.Fatalf("closed session scheduled at %d, %d scheduled", n, left)
	}
	for _, s := range []sess{ss[0], ss[2]} {
		writeWS(t, s.c, "3")
		waitUntil(t, "the pong", func() bool { return !awaiting(s) })
	}
	clk.Advance(25 * time.Second)
	for _, s := range []sess{ss[0], ss[2]} {
		if _, got := readWS(t, s.c); got != "2" {
			t.Fatalf("want the second ping, got %q", got)
		}
	}
	// Nobody answers: both time out.
	clk.Advance(20 * time.Second)
	ss[0].r.wantClose(t, ReasonPingTimeout)
	ss[2].r.wantClose(t, ReasonPingTimeout)
}

// Sessions opened with the same request target keep one copy of it; each
// still sees its own request.
func TestHandshakeTargetShared(t *testing.T) {
	e := newEnv(t, Config{})
	var conns []*Conn
	for _, q := range []string{"EIO=4&transport=websocket", "EIO=4&transport=websocket", "EIO=4&transport=websocket&x=1"} {
		c := e.dial(q)
		readWS(t, c)
		conns = append(conns, e.nextConn().conn)
	}
	data := func(c *Conn) *byte { return unsafe.StringData(c.hs.target) }
	if data(conns[0]) != data(conns[1]) {
		t.Fatal("two sessions with the same target keep two copies")
	}
	if got := conns[2].Request().URL.Query().Get("x"); got != "1" {
		t.Fatalf("the third session's request has x=%q", got)
	}
	if got := conns[1].Request().URL.RawQuery; got != "EIO=4&transport=websocket" {
		t.Fatalf("the second session's query is %q", got)
	}
}
