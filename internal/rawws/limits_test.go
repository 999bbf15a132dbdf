package rawws_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/limits"
	"github.com/eventide/realtime/internal/rawws"
	"github.com/eventide/realtime/internal/ws"
)

// The default durations give a sweep every 2.5 s (a quarter of the 10 s
// message timeout): a deadline is met within one tick after it passes.
const tick = rawws.DefaultMessageTimeout / 4

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// wantCount checks how often limit was hit so far. Sweeps run inside
// fakeClock.Advance, so the count is final when Advance returns.
func wantCount(t *testing.T, f *fixture, limit string, want uint64) {
	t.Helper()
	if got := f.limits.Count(limit); got != want {
		t.Fatalf("%s hit %d times, want %d", limit, got, want)
	}
}

// wantGone waits until the server has removed id, for reason.
func wantGone(t *testing.T, f *fixture, id rawws.ClientID, reason string) {
	t.Helper()
	f.logs.waitLog(t, "client disconnected", map[string]any{"client": string(id), "reason": reason})
	if slices.Contains(f.svc.Clients(), id) {
		t.Fatalf("client %s still listed", id)
	}
}

// A client that never answers is pinged after PingInterval of silence and
// closed with 1001 PingTimeout later, not before.
func TestHeartbeatClosesAClientThatDoesNotAnswer(t *testing.T) {
	clock := newFakeClock(t0)
	f := start(t, rawws.Config{Clock: clock})
	c, id := f.dialRaw(t)

	clock.Advance(rawws.DefaultPingInterval)
	if op, _ := c.read(t); op != ws.OpPing {
		t.Fatalf("after %v of silence: %v, want a ping", rawws.DefaultPingInterval, op)
	}
	clock.Advance(rawws.DefaultPingTimeout - tick)
	wantCount(t, f, rawws.LimitPingTimeout, 0)
	clock.Advance(tick)
	wantCount(t, f, rawws.LimitPingTimeout, 1)

	code, reason, _ := c.readClose(t)
	if code != ws.CloseGoingAway || reason != "ping timeout" {
		t.Fatalf("close %d %q, want 1001 \"ping timeout\"", code, reason)
	}
	wantGone(t, f, id, "ping timeout")
	f.logs.waitLog(t, "limit reached", map[string]any{"limit": rawws.LimitPingTimeout, "client": string(id)})
}

// A pong keeps a client that sends nothing else alive, and the heartbeat
// goes on: the next ping comes PingInterval after the pong.
func TestPongKeepsAClientAlive(t *testing.T) {
	clock := newFakeClock(t0)
	f := start(t, rawws.Config{Clock: clock})
	c, _ := f.dialRaw(t)

	clock.Advance(rawws.DefaultPingInterval)
	for round := range 3 {
		if op, _ := c.read(t); op != ws.OpPing {
			t.Fatalf("round %d: %v, want a ping", round, op)
		}
		c.write(t, 0x8A, nil) // the pong
		c.sync(t)             // the server has read it
		// Past this ping's timeout, had the pong not come; the next ping
		// is due PingInterval after the pong (seen within a tick).
		clock.Advance(rawws.DefaultPingInterval + tick)
		wantCount(t, f, rawws.LimitPingTimeout, 0)
	}
	if f.svc.Count() != 1 {
		t.Fatalf("Count = %d, want the client still served", f.svc.Count())
	}
	// And it is still served (past the ping due meanwhile).
	c.write(t, 0x81, []byte(`{"event":"still","payload":1}`))
	if op, _ := c.read(t); op != ws.OpPing {
		t.Fatalf("%v, want the next ping", op)
	}
	if op, p := c.read(t); op != ws.OpText || !strings.Contains(string(p), "Event received") {
		t.Fatalf("echo: %v %s", op, p)
	}
}

// A client that talks is never pinged.
func TestActiveClientIsNotPinged(t *testing.T) {
	clock := newFakeClock(t0)
	f := start(t, rawws.Config{Clock: clock})
	c, _ := f.dialRaw(t)
	for range 10 {
		clock.Advance(rawws.DefaultPingInterval / 2)
		c.write(t, 0x81, []byte(`{"event":"tick"}`))
		if op, p := c.read(t); op != ws.OpText {
			t.Fatalf("got %v %q, want only echoes", op, p)
		}
	}
	if skipped := c.sync(t); len(skipped) != 0 {
		t.Fatalf("frames %v besides the echoes", skipped)
	}
}

// A message begun and never finished (its first fragment sent, the rest
// never, while the client answers pings) is closed with 1008 once
// MessageTimeout has passed.
func TestUnfinishedMessageIsClosed(t *testing.T) {
	clock := newFakeClock(t0)
	f := start(t, rawws.Config{Clock: clock})
	c, id := f.dialRaw(t)

	c.write(t, 0x01, []byte(`{"event":`)) // text, not final
	c.sync(t)                             // pings between fragments are answered
	clock.Advance(rawws.DefaultMessageTimeout - tick)
	wantCount(t, f, rawws.LimitMessageTimeout, 0)
	clock.Advance(2 * tick)
	wantCount(t, f, rawws.LimitMessageTimeout, 1)

	code, reason, _ := c.readClose(t)
	if code != ws.ClosePolicyViolation || reason != "message not completed in time" {
		t.Fatalf("close %d %q, want 1008 \"message not completed in time\"", code, reason)
	}
	wantGone(t, f, id, "message not completed in time")
}

// Half a frame (a header announcing 100 bytes, 10 sent) is closed the same
// way, and what it announced was not allocated (the ws package tests that).
func TestHalfAFrameIsClosed(t *testing.T) {
	clock := newFakeClock(t0)
	f := start(t, rawws.Config{Clock: clock, PingInterval: -1})
	c, id := f.dialRaw(t)

	whole := clientFrame(0x81, bytes.Repeat([]byte("x"), 100))
	if _, err := c.nc.Write(whole[:6+10]); err != nil { // 2 header bytes, 4 of mask, 10 of payload
		t.Fatal(err)
	}
	waitFor(t, "the server reading the frame", func() bool { return rawws.MessagesInProgress(f.svc) == 1 })
	clock.Advance(rawws.DefaultMessageTimeout - tick)
	wantCount(t, f, rawws.LimitMessageTimeout, 0)
	clock.Advance(2 * tick)
	wantCount(t, f, rawws.LimitMessageTimeout, 1)
	if code, _, _ := c.readClose(t); code != ws.ClosePolicyViolation {
		t.Fatalf("close %d, want 1008", code)
	}
	wantGone(t, f, id, "message not completed in time")
}

// IdleTimeout closes a client that sends no message for that long, pings
// and pongs notwithstanding; each message starts the wait again.
func TestIdleTimeout(t *testing.T) {
	const idle = time.Minute
	clock := newFakeClock(t0)
	f := start(t, rawws.Config{Clock: clock, IdleTimeout: idle, PingInterval: -1})
	c, id := f.dialRaw(t)

	clock.Advance(idle - tick)
	c.write(t, 0x81, []byte(`{"event":"here"}`))
	if op, _ := c.read(t); op != ws.OpText {
		t.Fatalf("echo: %v", op)
	}
	clock.Advance(idle - tick)
	c.sync(t) // a ping is no message
	wantCount(t, f, rawws.LimitIdleTimeout, 0)
	clock.Advance(2 * tick)
	wantCount(t, f, rawws.LimitIdleTimeout, 1)
	if code, reason, _ := c.readClose(t); code != ws.CloseGoingAway || reason != "idle timeout" {
		t.Fatalf("close %d %q, want 1001 \"idle timeout\"", code, reason)
	}
	wantGone(t, f, id, "idle timeout")
}

// IdleTimeout is off by default: a listener that only answers pings stays.
func TestNoIdleTimeoutByDefault(t *testing.T) {
	clock := newFakeClock(t0)
	f := start(t, rawws.Config{Clock: clock})
	c, _ := f.dialRaw(t)
	clock.Advance(rawws.DefaultPingInterval)
	for range 10 { // over four minutes
		if op, _ := c.read(t); op != ws.OpPing {
			t.Fatalf("%v, want a ping", op)
		}
		c.write(t, 0x8A, nil)
		c.sync(t)
		clock.Advance(rawws.DefaultPingInterval + tick)
	}
	if f.svc.Count() != 1 || len(f.limits.Counts()) != 0 {
		t.Fatalf("Count %d, limits %v: want the listener served", f.svc.Count(), f.limits.Counts())
	}
}

// Past MaxConns a client is upgraded and closed with 1013, which a browser
// shows; a slot given back is taken by the next client.
func TestConnectionCap(t *testing.T) {
	f := start(t, rawws.Config{MaxConns: 2})
	a, _ := f.connect(t)
	f.connect(t)

	over := f.dial(t, "", nil)
	_ = over.SetReadDeadline(time.Now().Add(ioTimeout))
	_, _, err := over.ReadMessage(0)
	var ce *ws.CloseError
	if !errors.As(err, &ce) || ce.Code != ws.CloseTryAgainLater || ce.Reason != "too many connections" {
		t.Fatalf("third client: %v, want close 1013 \"too many connections\"", err)
	}
	wantCount(t, f, rawws.LimitConnections, 1)
	if n := f.svc.Count(); n != 2 {
		t.Fatalf("Count = %d, want 2", n)
	}

	_ = a.Close()
	waitFor(t, "a slot free", func() bool { return f.svc.Count() == 1 })
	c, _ := f.connect(t)
	send(t, c, `{"event":"in","payload":1}`)
	if m := readJSON(t, c); m["message"] != "Event received" {
		t.Fatalf("client after a slot was freed: %v", m)
	}
}

// A refused Origin is answered 403 and reported as a limit hit.
func TestOriginRefusalIsReported(t *testing.T) {
	f := start(t, rawws.Config{CheckOrigin: func(r *http.Request) bool {
		return r.Header.Get("Origin") == "https://app.example"
	}})
	status, body := upgradeStatus(t, f, "", http.Header{"Origin": {"https://evil.example"}})
	if status != http.StatusForbidden || !strings.Contains(body, "origin") {
		t.Fatalf("foreign origin: %d %q, want 403 naming the origin", status, body)
	}
	wantCount(t, f, rawws.LimitOrigin, 1)
	f.logs.waitLog(t, "limit reached", map[string]any{"limit": rawws.LimitOrigin, "origin": "https://evil.example"})
}

// At info level no message is logged, so the log does not grow with the
// traffic; at debug level a payload is logged, cut to 256 bytes.
func TestPayloadsLoggedOnlyAtDebugAndCut(t *testing.T) {
	info := &logBuffer{}
	f := start(t, rawws.Config{Logger: slog.New(slog.NewJSONHandler(info, nil))})
	c := f.dial(t, "", nil)
	for range 20 {
		send(t, c, `{"event":"attendance-update","payload":{"attendeeId":456}}`)
		readJSON(t, c)
		send(t, c, `{"event":`)
		readJSON(t, c)
	}
	for _, e := range info.entries(t) {
		if e["msg"] == "event received" || e["msg"] == "invalid message" || e["payload"] != nil {
			t.Fatalf("logged at info: %v", e)
		}
	}

	g := start(t, rawws.Config{})
	d, id := g.connect(t)
	long := strings.Repeat("é", 1000)
	send(t, d, `{"event":"`+strings.Repeat("e", 300)+`","payload":"`+long+`"}`)
	readJSON(t, d)
	e := g.logs.waitLog(t, "event received", map[string]any{"client": string(id)})
	p, _ := e["payload"].(map[string]any)
	start, _ := p["start"].(string)
	if p["bytes"] != float64(len(long)+2) || len(start) > 256+len("…") || !strings.HasPrefix(start, `"éé`) || !strings.HasSuffix(start, "…") {
		t.Fatalf("payload logged as %v, want its first 256 bytes and its size", e["payload"])
	}
	if ev, _ := e["event"].(string); len(ev) > 256+len("…") {
		t.Fatalf("event name logged with %d bytes", len(ev))
	}
}

// Limits are reported to a Reporter the caller gives, such as the server's.
func TestLimitsGoToTheGivenReporter(t *testing.T) {
	rep := limits.New(limits.Config{})
	f := start(t, rawws.Config{MaxMessage: 16, Limits: rep})
	c := f.dial(t, "", nil)
	send(t, c, `{"event":"much too long"}`)
	if ce := readClose(t, c); ce.Code != ws.CloseMessageTooBig {
		t.Fatalf("close %d, want 1009", ce.Code)
	}
	waitFor(t, "the hit reported", func() bool { return rep.Count(rawws.LimitMessageBytes) == 1 })
}
