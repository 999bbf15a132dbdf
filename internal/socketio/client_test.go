package socketio

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// guard bounds every wait of these tests for something that must happen (a
// packet, a close, a disconnect). It is only a failure guard: no outcome
// depends on it, so it is generous enough for a loaded 2-core machine
// running the race detector.
const guard = 30 * time.Second

// testClient is a minimal Engine.IO long-polling client speaking EIO 4 or 3
// (b64 text payloads), enough to drive the server through the real engine.
type testClient struct {
	t     *testing.T
	base  string
	proto int
	sid   string
	dec   Decoder
	msgs  chan engineMsg
	done  chan struct{}
	once  sync.Once
	hc    *http.Client
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	wsc   *ws.Conn   // set for the websocket transport
	wmu   sync.Mutex // serializes websocket writes
}

type engineMsg struct {
	data   []byte
	binary bool
	closed bool
}

// dial opens an Engine.IO long-polling session; query is added to the
// handshake URL.
func dial(t *testing.T, srvURL string, proto int, query string) *testClient {
	t.Helper()
	return dialTransport(t, srvURL, proto, query, "polling")
}

// dialTransport opens a session over "polling" or "websocket" (direct, no upgrade).
func dialTransport(t *testing.T, srvURL string, proto int, query, transport string) *testClient {
	t.Helper()
	if transport == "websocket" {
		return dialWS(t, srvURL, proto, query)
	}
	ctx, stop := context.WithCancel(context.Background())
	c := &testClient{
		t: t, base: srvURL + "/socket.io/", proto: proto, dec: Decoder{Client: true},
		msgs: make(chan engineMsg, 256), done: make(chan struct{}),
		hc: &http.Client{}, ctx: ctx, stop: stop, // no timeout: a long-poll waits for the heartbeat; Close cancels ctx
	}
	q := "EIO=" + strconv.Itoa(proto) + "&transport=polling"
	if proto == 3 {
		q += "&b64=1"
	}
	if query != "" {
		q += "&" + query
	}
	body, status := c.get(q)
	if status != http.StatusOK {
		t.Fatalf("handshake: status %d: %s", status, body)
	}
	pkts := c.splitPayload(body)
	if len(pkts) == 0 || pkts[0][0] != '0' {
		t.Fatalf("handshake: %q", body)
	}
	i := strings.Index(string(pkts[0]), `"sid":"`)
	if i < 0 {
		t.Fatalf("handshake: no sid in %q", body)
	}
	rest := string(pkts[0][i+7:])
	c.sid = rest[:strings.IndexByte(rest, '"')]
	for _, p := range pkts[1:] {
		c.handle(p)
	}
	c.wg.Add(1)
	go c.poll()
	t.Cleanup(c.Close)
	return c
}

func dialWS(t *testing.T, srvURL string, proto int, query string) *testClient {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	c := &testClient{
		t: t, base: srvURL + "/socket.io/", proto: proto, dec: Decoder{Client: true},
		msgs: make(chan engineMsg, 256), done: make(chan struct{}),
		hc: &http.Client{}, ctx: ctx, stop: stop, // no timeout: a long-poll waits for the heartbeat; Close cancels ctx
	}
	q := "EIO=" + strconv.Itoa(proto) + "&transport=websocket"
	if query != "" {
		q += "&" + query
	}
	dctx, cancel := context.WithTimeout(ctx, guard)
	defer cancel()
	wsc, err := ws.Dial(dctx, c.url(q), ws.DialOptions{})
	if err != nil {
		t.Fatalf("ws dial: %v", err)
	}
	c.wsc = wsc
	op, open, err := wsc.ReadMessage(1 << 20)
	if err != nil || op != ws.OpText || len(open) == 0 || open[0] != '0' {
		t.Fatalf("ws open packet: %v %q", err, open)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			op, b, err := wsc.ReadMessage(1 << 20)
			if err != nil {
				c.markClosed()
				return
			}
			if op == ws.OpBinary {
				if c.proto == 3 && len(b) > 0 {
					b = b[1:]
				}
				c.msgs <- engineMsg{data: bytes.Clone(b), binary: true}
				continue
			}
			if !c.handle(b) {
				c.markClosed()
				return
			}
		}
	}()
	t.Cleanup(c.Close)
	return c
}

func (c *testClient) url(q string) string { return c.base + "?" + q }

func (c *testClient) get(q string) ([]byte, int) {
	req, _ := http.NewRequestWithContext(c.ctx, http.MethodGet, c.url(q), nil)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b, resp.StatusCode
}

func (c *testClient) sessionQuery() string {
	q := "EIO=" + strconv.Itoa(c.proto) + "&transport=polling&sid=" + c.sid
	if c.proto == 3 {
		q += "&b64=1"
	}
	return q
}

func (c *testClient) poll() {
	defer c.wg.Done()
	for {
		body, status := c.get(c.sessionQuery())
		if status != http.StatusOK {
			c.markClosed()
			return
		}
		for _, p := range c.splitPayload(body) {
			if !c.handle(p) {
				c.markClosed()
				return
			}
		}
	}
}

func (c *testClient) markClosed() {
	c.once.Do(func() {
		close(c.done)
		c.msgs <- engineMsg{closed: true}
	})
}

// handle processes one Engine.IO packet; false on close.
func (c *testClient) handle(p []byte) bool {
	if len(p) == 0 {
		return true
	}
	switch p[0] {
	case '1':
		return false
	case '2': // ping (v4) -> pong
		c.post([]string{"3" + string(p[1:])})
	case '4':
		c.msgs <- engineMsg{data: bytes.Clone(p[1:])}
	case 'b':
		raw := p[1:]
		if c.proto == 3 && len(raw) > 0 && raw[0] == '4' {
			raw = raw[1:]
		}
		b, err := base64.StdEncoding.DecodeString(string(raw))
		if err != nil {
			c.t.Errorf("bad base64 binary %q", p)
			return false
		}
		c.msgs <- engineMsg{data: b, binary: true}
	}
	return true
}

func (c *testClient) splitPayload(b []byte) [][]byte {
	if c.proto == 4 {
		return bytes.Split(b, []byte{0x1e})
	}
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, ':')
		if i < 0 {
			c.t.Errorf("bad v3 payload %q", b)
			return out
		}
		n, err := strconv.Atoi(string(b[:i]))
		if err != nil || i+1+n > len(b) {
			c.t.Errorf("bad v3 payload %q", b)
			return out
		}
		out = append(out, b[i+1:i+1+n])
		b = b[i+1+n:]
	}
	return out
}

// post sends raw Engine.IO packets ("b"+base64 for binary); it reports the
// HTTP status (200 over websocket unless the write fails).
func (c *testClient) post(pkts []string) int {
	if c.wsc != nil {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		for _, p := range pkts {
			var err error
			if strings.HasPrefix(p, "b") {
				raw := p[1:]
				if c.proto == 3 {
					raw = raw[1:]
				}
				b, _ := base64.StdEncoding.DecodeString(raw)
				if c.proto == 3 {
					b = append([]byte{4}, b...)
				}
				err = c.wsc.WriteMessage(ws.OpBinary, b)
			} else {
				err = c.wsc.WriteMessage(ws.OpText, []byte(p))
			}
			if err != nil {
				return 0
			}
		}
		return http.StatusOK
	}
	var body string
	if c.proto == 4 {
		body = strings.Join(pkts, "\x1e")
	} else {
		for _, p := range pkts {
			body += strconv.Itoa(len(p)) + ":" + p
		}
	}
	req, _ := http.NewRequestWithContext(c.ctx, http.MethodPost, c.url(c.sessionQuery()), strings.NewReader(body))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// send sends Socket.IO text packets (without the Engine.IO "4").
func (c *testClient) send(texts ...string) {
	pkts := make([]string, len(texts))
	for i, s := range texts {
		pkts[i] = "4" + s
	}
	c.post(pkts)
}

// sendPacket sends an encoded packet with its attachments in one POST.
func (c *testClient) sendPacket(p *Packet) {
	pkts := []string{"4" + string(p.Text)}
	for _, a := range p.Attachments {
		if c.proto == 4 {
			pkts = append(pkts, "b"+base64.StdEncoding.EncodeToString(a))
		} else {
			pkts = append(pkts, "b4"+base64.StdEncoding.EncodeToString(a))
		}
	}
	c.post(pkts)
}

func (c *testClient) emit(nsp string, id int64, event string, args ...any) {
	c.t.Helper()
	p, err := EncodeEvent(nsp, id, event, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendPacket(p)
}

// next returns the next Socket.IO packet from the server, failing the test
// after a timeout or on close.
func (c *testClient) next() *DecodedPacket {
	c.t.Helper()
	timeout := time.After(guard)
	for {
		select {
		case m := <-c.msgs:
			if m.closed {
				c.t.Fatal("connection closed while waiting for a packet")
			}
			p, err := c.dec.Add(m.data, m.binary)
			if err != nil {
				c.t.Fatalf("client decode %q: %v", m.data, err)
			}
			if p != nil {
				return p
			}
		case <-timeout:
			c.t.Fatal("timeout waiting for a packet")
		}
	}
}

// expectClosed waits until the server closes the session, failing on any
// Socket.IO packet received meanwhile other than DISCONNECT.
func (c *testClient) expectClosed() {
	c.t.Helper()
	timeout := time.After(guard)
	for {
		select {
		case m := <-c.msgs:
			if m.closed {
				return
			}
		case <-timeout:
			c.t.Fatal("session not closed by the server")
		}
	}
}

// connect sends CONNECT for nsp with auth (v5) and returns the answer.
func (c *testClient) connect(nsp string, auth any) *DecodedPacket {
	c.t.Helper()
	p, err := Encode(PacketConnect, nsp, NoID, auth)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendPacket(p)
	return c.next()
}

// mustConnect connects to nsp and returns the socket id.
func (c *testClient) mustConnect(nsp string, auth any) string {
	c.t.Helper()
	p := c.connect(nsp, auth)
	m, ok := p.Data.(map[string]any)
	if p.Type != PacketConnect || p.Namespace != nsp || !ok {
		c.t.Fatalf("connect %s: got %s %s %v", nsp, p.Type, p.Namespace, p.Data)
	}
	sid, _ := m["sid"].(string)
	if len(sid) != 20 {
		c.t.Fatalf("bad sid %q", sid)
	}
	return sid
}

// expectEvent returns the args of the next packet, which must be an event.
func (c *testClient) expectEvent(nsp, name string) *DecodedPacket {
	c.t.Helper()
	p := c.next()
	if p.Type != PacketEvent && p.Type != PacketBinaryEvent {
		c.t.Fatalf("got %s %v, want event %s", p.Type, p.Data, name)
	}
	arr := p.Data.([]any)
	if p.Namespace != nsp || arr[0] != name {
		c.t.Fatalf("got event %s %v, want %s %s", p.Namespace, arr, nsp, name)
	}
	return p
}

// expectNothing checks no packet arrives within d.
func (c *testClient) expectNothing(d time.Duration) {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		c.t.Fatalf("unexpected message %q closed=%v", m.data, m.closed)
	case <-time.After(d):
	}
}

func (c *testClient) Close() {
	select {
	case <-c.done:
	default:
		c.post([]string{"1"})
	}
	c.stop()
	if c.wsc != nil {
		c.wsc.Close()
	}
	c.wg.Wait()
}

// newTestServer starts a Socket.IO server on httptest.
func newTestServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	cfg.Engine.AllowEIO3 = true
	s := NewServer(cfg)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", s)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return s, hs
}

func (c *testClient) String() string { return fmt.Sprintf("client(%s)", c.sid) }
