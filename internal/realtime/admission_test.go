package realtime_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/ratelimit"
	"github.com/eventide/realtime/internal/realtime"
	"github.com/eventide/realtime/internal/socketio"
)

// The event rate limits, as a client sees them, on the gateway's fake
// clock: time passes only when a test advances it.

var watchAll = auth.Claims{Role: auth.RoleClient, Providers: []string{"*"}}

// wantRateLimited checks a refused room request: the exception (with the
// cause) and the ack, both with a message starting with prefix.
func wantRateLimited(t *testing.T, name string, payload, ack map[string]any, room, prefix string) {
	t.Helper()
	msg, _ := payload["message"].(string)
	if name != realtime.EventException || payload["status"] != "error" || !strings.HasPrefix(msg, prefix) ||
		!reflect.DeepEqual(payload["cause"], map[string]any{"event": realtime.EventJoinRoom, "room": room}) {
		t.Fatalf("got %s %v, want an exception %q", name, payload, prefix)
	}
	if ack["status"] != "error" || ack["message"] != msg {
		t.Fatalf("ack %v, want {status: error, message: %q}", ack, msg)
	}
}

// TestSocketEventRate: a socket gets its burst at once, then Rate events a
// second; the event over it is refused, with an exception and the ack, and
// does nothing; every event counts, handled or not.
func TestSocketEventRate(t *testing.T) {
	g := startGateway(t, gatewayOptions{leeway: 30 * time.Second, tune: func(c *realtime.Config) {
		c.SocketEvents = ratelimit.Limit{Rate: 1, Burst: 3}
		c.SubjectEvents = ratelimit.Limit{Rate: -1}
	}})
	c := g.connect(g.token(watchAll, time.Hour))
	for _, room := range []string{"provider-1", "provider-2", "provider-3"} {
		if name, _, ack := request(t, c, realtime.EventJoinRoom, room); name != realtime.EventJoinedRoom || ack["status"] != "ok" {
			t.Fatalf("join %s within the burst: %s %v", room, name, ack)
		}
	}
	name, payload, ack := request(t, c, realtime.EventJoinRoom, "provider-4")
	wantRateLimited(t, name, payload, ack, "provider-4",
		"rate limited: a connection may send 1 events a second, 3 at once; retry in 1s")
	if g.receives(t, c, "provider-4") {
		t.Fatal("a refused joinRoom joined")
	}
	if n := g.limits.Count(realtime.LimitSocketEvents); n != 1 {
		t.Fatalf("%s counted %d times, want 1", realtime.LimitSocketEvents, n)
	}
	if logs := g.logs.String(); !strings.Contains(logs, "limit reached") || !strings.Contains(logs, "limit="+realtime.LimitSocketEvents) ||
		!strings.Contains(logs, "event=joinRoom") {
		t.Fatalf("no WARN line for the limit:\n%s", logs)
	}

	// A second later, one more event; an event no handler takes counts.
	g.clock.Advance(time.Second)
	c.Emit(socketio.NoID, "noise", 1)
	name, payload, ack = request(t, c, realtime.EventJoinRoom, "provider-4")
	wantRateLimited(t, name, payload, ack, "provider-4", "rate limited:")
	g.clock.Advance(time.Second)
	if name, _, _ := request(t, c, realtime.EventJoinRoom, "provider-4"); name != realtime.EventJoinedRoom {
		t.Fatalf("a second after, joinRoom: %s", name)
	}
	// Refused, and still connected: a few refusals are not abuse.
	if !g.receives(t, c, "provider-4") {
		t.Fatal("the socket lost its room")
	}
}

// TestSubjectEventRate: the sockets of one token subject share a budget;
// another subject's sockets, and a socket of a token without sub, do not.
func TestSubjectEventRate(t *testing.T) {
	g := startGateway(t, gatewayOptions{leeway: 30 * time.Second, tune: func(c *realtime.Config) {
		c.SocketEvents = ratelimit.Limit{Rate: 1, Burst: 100}
		c.SubjectEvents = ratelimit.Limit{Rate: 1, Burst: 4}
	}})
	alice := watchAll
	alice.Subject = "alice"
	a1, a2 := g.connect(g.token(alice, time.Hour)), g.connect(g.token(alice, time.Hour))
	for i := range 3 {
		if name, _, _ := request(t, a1, realtime.EventJoinRoom, "provider-1"); name != realtime.EventJoinedRoom {
			t.Fatalf("alice's first socket, join %d: %s", i+1, name)
		}
	}
	if name, _, _ := request(t, a2, realtime.EventJoinRoom, "provider-2"); name != realtime.EventJoinedRoom {
		t.Fatalf("alice's second socket, the subject's fourth event: %s", name)
	}
	name, payload, ack := request(t, a2, realtime.EventJoinRoom, "provider-3")
	wantRateLimited(t, name, payload, ack, "provider-3",
		"rate limited: the connections of one token subject together may send 1 events a second, 4 at once; retry in 1s")
	if n := g.limits.Count(realtime.LimitSubjectEvents); n != 1 {
		t.Fatalf("%s counted %d times, want 1", realtime.LimitSubjectEvents, n)
	}

	bob := watchAll
	bob.Subject = "bob"
	b := g.connect(g.token(bob, time.Hour))
	if name, _, _ := request(t, b, realtime.EventJoinRoom, "provider-3"); name != realtime.EventJoinedRoom {
		t.Fatalf("another subject: %s", name)
	}

	// A token without sub: its sockets are limited each on its own.
	anon := watchAll
	anon.Subject = ""
	tok, _, err := g.minter.Mint(anon, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	n1, n2 := g.connect(tok), g.connect(tok)
	for i := range 5 {
		if name, _, _ := request(t, n1, realtime.EventJoinRoom, "provider-1"); name != realtime.EventJoinedRoom {
			t.Fatalf("no sub, socket 1, event %d: %s", i+1, name)
		}
		if name, _, _ := request(t, n2, realtime.EventJoinRoom, "provider-1"); name != realtime.EventJoinedRoom {
			t.Fatalf("no sub, socket 2, event %d: %s", i+1, name)
		}
	}

	// The subject's budget refills at its rate.
	g.clock.Advance(time.Second)
	if name, _, _ := request(t, a2, realtime.EventJoinRoom, "provider-3"); name != realtime.EventJoinedRoom {
		t.Fatalf("a second later: %s", name)
	}
}

// TestEventAbuseDisconnects: a socket that goes on sending once refused
// gets, past the refusals allowed within the window, a last exception
// and is disconnected; refusals spread wider than the window are not
// abuse.
func TestEventAbuseDisconnects(t *testing.T) {
	g := startGateway(t, gatewayOptions{leeway: 30 * time.Second, tune: func(c *realtime.Config) {
		c.SocketEvents = ratelimit.Limit{Rate: 0.001, Burst: 1}
		c.AbuseRefusals = 3
		c.AbuseWindow = time.Minute
	}})
	c := g.connect(g.token(watchAll, time.Hour))
	request(t, c, realtime.EventJoinRoom, "provider-1")
	for i := range 3 {
		name, payload, ack := request(t, c, realtime.EventJoinRoom, "provider-1")
		wantRateLimited(t, name, payload, ack, "provider-1", "rate limited:")
		if i == 2 {
			g.clock.Advance(time.Minute) // the window passes: the refusals are forgiven
		}
	}
	for range 3 {
		name, payload, ack := request(t, c, realtime.EventJoinRoom, "provider-1")
		wantRateLimited(t, name, payload, ack, "provider-1", "rate limited:")
	}
	if n := g.limits.Count(realtime.LimitEventAbuse); n != 0 {
		t.Fatalf("%s counted %d times before the abuse", realtime.LimitEventAbuse, n)
	}

	c.Emit(7, realtime.EventJoinRoom, "provider-1")
	got := c.Closed()
	if len(got) != 3 || got[0].Type != socketio.PacketEvent || got[1].Type != socketio.PacketAck || got[2].Type != socketio.PacketDisconnect {
		t.Fatalf("got %v before the close, want exception, ack and DISCONNECT", got)
	}
	arr := got[0].Data.([]any)
	want := "too many events: more than 3 refused within 1m; disconnecting"
	if arr[0] != realtime.EventException || arr[1].(map[string]any)["message"] != want {
		t.Fatalf("last exception %v, want %q", arr, want)
	}
	if ack := got[1].Data.([]any)[0].(map[string]any); ack["message"] != want {
		t.Fatalf("last ack %v", ack)
	}
	if n := g.limits.Count(realtime.LimitEventAbuse); n != 1 {
		t.Fatalf("%s counted %d times, want 1", realtime.LimitEventAbuse, n)
	}
	if !strings.Contains(g.logs.String(), "too many events refused; disconnecting") {
		t.Fatalf("no disconnect line:\n%s", g.logs.String())
	}
	// It may connect again (a client that slows down is welcome).
	g.connect(g.token(watchAll, time.Hour))
}
