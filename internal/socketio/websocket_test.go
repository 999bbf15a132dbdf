package socketio

import (
	"reflect"
	"strconv"
	"testing"
	"time"
)

// TestWebSocketTransport runs the main flows over a direct WebSocket, for
// both protocol generations.
func TestWebSocketTransport(t *testing.T) {
	for _, proto := range []int{4, 3} {
		t.Run("EIO"+strconv.Itoa(proto), func(t *testing.T) {
			s, hs := newTestServer(t, Config{})
			nsp := s.Of("/")
			reasons := make(chan string, 8)
			nsp.OnConnection(func(so *Socket) {
				echo(so)
				so.On("join", func(e *Event) { so.Join(e.Args[0].(string)); e.Ack() })
				so.OnDisconnect(func(r string) { reasons <- r })
			})
			connect := func() *testClient {
				c := dialTransport(t, hs.URL, proto, "", "websocket")
				if proto == 4 {
					c.mustConnect("/", nil)
				} else if p := c.next(); p.Type != PacketConnect {
					t.Fatalf("got %s", p.Type)
				}
				return c
			}
			a, b := connect(), connect()

			a.emit("/", 1, "echo", "hi", 1.0)
			if p := a.next(); p.Type != PacketAck || !reflect.DeepEqual(p.Data, []any{"hi", 1.0}) {
				t.Fatalf("got %s %v", p.Type, p.Data)
			}
			a.emit("/", 2, "echo", []byte{1, 2, 3}, map[string]any{"x": []byte{4}})
			if p := a.next(); p.Type != PacketBinaryAck || !reflect.DeepEqual(p.Data, []any{[]byte{1, 2, 3}, map[string]any{"x": []byte{4}}}) {
				t.Fatalf("got %s %v", p.Type, p.Data)
			}
			for _, c := range []*testClient{a, b} {
				c.emit("/", 3, "join", "room")
				if p := c.next(); p.Type != PacketAck {
					t.Fatalf("got %s", p.Type)
				}
			}
			if err := nsp.To("room").Emit("news", []byte{9}, "text"); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*testClient{a, b} {
				p := c.expectEvent("/", "news")
				if !reflect.DeepEqual(p.Data, []any{"news", []byte{9}, "text"}) {
					t.Fatalf("got %v", p.Data)
				}
			}
			// Bad input closes a, b lives on.
			a.send(`2{}`)
			a.expectClosed()
			select {
			case r := <-reasons:
				if r != ReasonParseError {
					t.Fatalf("reason %q", r)
				}
			case <-time.After(guard):
				t.Fatal("no disconnect")
			}
			b.emit("/", 4, "echo", "still")
			if p := b.next(); p.Type != PacketAck || p.ID != 4 {
				t.Fatalf("got %s %d", p.Type, p.ID)
			}
		})
	}
}
