package socketio

import (
	"reflect"
	"testing"
)

// TestAdmitEvents: an event a check refuses reaches no later check and no
// handler (OnAny included), and the check may answer its ack; admitted
// events go through every check, then the handlers, in order. Other
// namespaces are not checked.
func TestAdmitEvents(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	seen := make(chan string, 100)
	root := s.Of("/")
	root.AdmitEvents(func(e *Event) bool {
		seen <- "check1:" + e.Name
		if e.Name == "blocked" {
			if e.Ack != nil {
				_ = e.Ack("refused")
			}
			return false
		}
		return true
	})
	root.AdmitEvents(func(e *Event) bool { seen <- "check2:" + e.Name; return true })
	handlers := func(so *Socket) {
		so.OnAny(func(e *Event) { seen <- "any:" + e.Name })
		so.On("blocked", func(e *Event) { seen <- "on:blocked" })
		so.On("ok", func(e *Event) { seen <- "on:ok"; _ = e.Ack("done") })
	}
	root.OnConnection(handlers)
	s.Of("/other").OnConnection(handlers)

	c := dial(t, hs.URL, 4, "")
	c.mustConnect("/", nil)
	c.mustConnect("/other", nil)
	c.emit("/", 1, "blocked")
	if p := c.next(); p.Type != PacketAck || p.ID != 1 || !reflect.DeepEqual(p.Data, []any{"refused"}) {
		t.Fatalf("refused event: got %s %d %v, want the check's ack", p.Type, p.ID, p.Data)
	}
	c.emit("/", 2, "ok")
	if p := c.next(); p.Type != PacketAck || p.ID != 2 || !reflect.DeepEqual(p.Data, []any{"done"}) {
		t.Fatalf("admitted event: got %s %d %v", p.Type, p.ID, p.Data)
	}
	c.emit("/other", 3, "ok")
	if p := c.next(); p.Type != PacketAck || p.ID != 3 {
		t.Fatalf("other namespace: got %s %d %v", p.Type, p.ID, p.Data)
	}
	want := []string{"check1:blocked", "check1:ok", "check2:ok", "any:ok", "on:ok", "any:ok", "on:ok"}
	var got []string
	for range want {
		got = append(got, <-seen)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	select {
	case extra := <-seen:
		t.Fatalf("%s ran too", extra)
	default:
	}
}

// TestNamespaceHandlers: OnEvent handlers run for every socket of their
// namespace, after the socket's own; OnDisconnect ones once per socket that
// disconnects, after the socket's own, with its reason.
func TestNamespaceHandlers(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	seen := make(chan string, 100)
	root := s.Of("/")
	root.OnEvent("ok", func(e *Event) { seen <- "nsp:ok"; _ = e.Ack("done") })
	root.OnDisconnect(func(so *Socket, reason string) { seen <- "nsp-disconnect:" + reason })
	root.OnConnection(func(so *Socket) {
		so.On("ok", func(e *Event) { seen <- "on:ok" })
		so.OnDisconnect(func(reason string) { seen <- "disconnect:" + reason })
	})
	s.Of("/other").OnConnection(func(so *Socket) {})

	c := dial(t, hs.URL, 4, "")
	c.mustConnect("/", nil)
	c.mustConnect("/other", nil)
	c.emit("/other", 1, "ok") // no handler there
	c.emit("/", 2, "ok")
	if p := c.next(); p.Type != PacketAck || p.ID != 2 || !reflect.DeepEqual(p.Data, []any{"done"}) {
		t.Fatalf("got %s %d %v, want the namespace handler's ack", p.Type, p.ID, p.Data)
	}
	c.Close()
	want := []string{"on:ok", "nsp:ok", "disconnect:transport close", "nsp-disconnect:transport close"}
	var got []string
	for range want {
		got = append(got, <-seen)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
}
