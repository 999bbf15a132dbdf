package socketio

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/fakeclock"
)

// dataError is a middleware error carrying data, like Node's err.data.
type dataError struct {
	msg  string
	data any
}

func (e *dataError) Error() string { return e.msg }
func (e *dataError) Data() any     { return e.data }

// echo registers an "echo" handler answering through ack or an "echo" event.
func echo(s *Socket) {
	s.On("echo", func(e *Event) {
		if e.Ack != nil {
			e.Ack(e.Args...)
			return
		}
		s.Emit("echo", e.Args...)
	})
}

// checkAlive proves the server still serves a fresh client.
func checkAlive(t *testing.T, url string) {
	t.Helper()
	c := dial(t, url, 4, "")
	c.mustConnect("/", nil)
	c.emit("/", 1, "echo", "still here")
	p := c.next()
	if p.Type != PacketAck || p.ID != 1 || !reflect.DeepEqual(p.Data, []any{"still here"}) {
		t.Fatalf("alive check: got %s %d %v", p.Type, p.ID, p.Data)
	}
}

func TestConnectWithAuth(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	got := make(chan Handshake, 1)
	s.Of("/").OnConnection(func(so *Socket) { got <- so.Handshake() })
	c := dial(t, hs.URL, 4, "foo=bar")
	sid := c.mustConnect("/", map[string]any{"token": "abc"})
	hsk := <-got
	if hsk.Auth["token"] != "abc" || hsk.Query.Get("foo") != "bar" || hsk.Protocol != 4 || hsk.Address == "" || hsk.Time.IsZero() {
		t.Fatalf("handshake %+v", hsk)
	}
	if so := s.Of("/").Socket(sid); so == nil || so.ID() != sid {
		t.Fatalf("socket %s not registered", sid)
	}
	if n := s.Of("/").SocketsLen(); n != 1 {
		t.Fatalf("SocketsLen %d", n)
	}
}

func TestConnectNonObjectAuth(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	s.Of("/").OnConnection(echo)
	c := dial(t, hs.URL, 4, "")
	c.send(`0"token"`)
	c.expectClosed()
	checkAlive(t, hs.URL)
}

func TestMiddlewareRejection(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	s.Of("/").Use(func(so *Socket) error {
		if so.Handshake().Auth["token"] == "good" || so.Handshake().Query.Get("token") == "good" {
			so.Set("user", "u1")
			return nil
		}
		if so.Handshake().Auth["token"] == "plain" {
			return errors.New("plain refusal")
		}
		return &dataError{msg: "unauthorized", data: map[string]any{"code": "unauthorized"}}
	})
	s.Of("/").OnConnection(func(so *Socket) {
		so.On("who", func(e *Event) { e.Ack(so.Get("user")) })
	})
	c := dial(t, hs.URL, 4, "")
	p := c.connect("/", map[string]any{"token": "bad"})
	want := map[string]any{"message": "unauthorized", "data": map[string]any{"code": "unauthorized"}}
	if p.Type != PacketConnectError || !reflect.DeepEqual(p.Data, want) {
		t.Fatalf("got %s %v", p.Type, p.Data)
	}
	p = c.connect("/", map[string]any{"token": "plain"})
	if p.Type != PacketConnectError || !reflect.DeepEqual(p.Data, map[string]any{"message": "plain refusal"}) {
		t.Fatalf("got %s %v", p.Type, p.Data)
	}
	// The same connection may retry and succeed.
	c.mustConnect("/", map[string]any{"token": "good"})
	c.emit("/", 5, "who")
	if p := c.next(); p.Type != PacketAck || !reflect.DeepEqual(p.Data, []any{"u1"}) {
		t.Fatalf("got %s %v", p.Type, p.Data)
	}
}

func TestMiddlewareRejectionV4(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	s.Of("/").Use(func(so *Socket) error {
		if so.Handshake().Auth["token"] == "good" || so.Handshake().Query.Get("token") == "good" {
			return nil
		}
		return errors.New("Not authorized")
	})
	admin := s.Of("/admin")
	admin.Use(func(so *Socket) error {
		return &dataError{msg: "no", data: map[string]any{"code": 403.0}}
	})
	c := dial(t, hs.URL, 3, "token=bad")
	if p := c.next(); p.Type != PacketConnectError || p.Data != "Not authorized" {
		t.Fatalf("got %s %v", p.Type, p.Data)
	}
	c2 := dial(t, hs.URL, 3, "token=good")
	if p := c2.next(); p.Type != PacketConnect || p.Namespace != "/" || p.Data != nil {
		t.Fatalf("got %s %s %v", p.Type, p.Namespace, p.Data)
	}
	c2.send("0/admin,")
	if p := c2.next(); p.Type != PacketConnectError || p.Namespace != "/admin" || !reflect.DeepEqual(p.Data, map[string]any{"code": 403.0}) {
		t.Fatalf("got %s %s %v", p.Type, p.Namespace, p.Data)
	}
}

func TestV4AutoConnectAndNamespaceQuery(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	auths := make(chan map[string]any, 2)
	s.Of("/").OnConnection(func(so *Socket) { auths <- so.Handshake().Auth; echo(so) })
	s.Of("/chat").OnConnection(func(so *Socket) { auths <- so.Handshake().Auth; echo(so) })
	c := dial(t, hs.URL, 3, "token=t1")
	if p := c.next(); p.Type != PacketConnect || p.Namespace != "/" {
		t.Fatalf("got %s %s", p.Type, p.Namespace)
	}
	// As Node: the automatic "/" connection of a 2.x client has an empty
	// auth; its credentials are in the handshake query.
	if a := <-auths; len(a) != 0 {
		t.Fatalf("auth %v, want {}", a)
	}
	c.send("0/chat?token=t2,")
	if p := c.next(); p.Type != PacketConnect || p.Namespace != "/chat" || p.Data != nil {
		t.Fatalf("got %s %s %v", p.Type, p.Namespace, p.Data)
	}
	if a := <-auths; a["token"] != "t2" {
		t.Fatalf("auth %v", a)
	}
	c.emit("/chat", 3, "echo", "hi")
	if p := c.next(); p.Type != PacketAck || p.Namespace != "/chat" || p.ID != 3 {
		t.Fatalf("got %s %s %d", p.Type, p.Namespace, p.ID)
	}
	c.emit("/", NoID, "echo", map[string]any{"a": 1})
	c.expectEvent("/", "echo")
}

func TestUnknownNamespace(t *testing.T) {
	_, hs := newTestServer(t, Config{})
	c := dial(t, hs.URL, 4, "")
	p := c.connect("/nope", nil)
	if p.Type != PacketConnectError || p.Namespace != "/nope" || !reflect.DeepEqual(p.Data, map[string]any{"message": "Invalid namespace"}) {
		t.Fatalf("got %s %s %v", p.Type, p.Namespace, p.Data)
	}
	c.mustConnect("/", nil)
}

func TestAcksBothWays(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	results := make(chan []any, 1)
	errs := make(chan error, 1)
	s.Of("/").OnConnection(func(so *Socket) {
		echo(so)
		so.On("ask", func(e *Event) {
			// EmitWithAck inside a handler: the ack is processed off the mailbox.
			args, err := so.EmitWithAck(context.Background(), "question", "q1")
			results <- args
			errs <- err
		})
	})
	c := dial(t, hs.URL, 4, "")
	c.mustConnect("/", nil)
	c.emit("/", 7, "echo", "a", 2.0, map[string]any{"k": true})
	p := c.next()
	if p.Type != PacketAck || p.ID != 7 || !reflect.DeepEqual(p.Data, []any{"a", 2.0, map[string]any{"k": true}}) {
		t.Fatalf("got %s %d %v", p.Type, p.ID, p.Data)
	}
	c.emit("/", NoID, "ask")
	q := c.expectEvent("/", "question")
	if q.ID == NoID {
		t.Fatal("server asked no ack")
	}
	c.send(`3999["unknown id is ignored"]`)
	ack, _ := EncodeAck("/", q.ID, "answer", 42)
	c.sendPacket(ack)
	if got := <-results; !reflect.DeepEqual(got, []any{"answer", 42.0}) {
		t.Fatalf("ack args %v", got)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	c.sendPacket(ack) // late duplicate: ignored
	c.emit("/", 8, "echo", "after")
	if p := c.next(); p.Type != PacketAck || p.ID != 8 {
		t.Fatalf("got %s %d", p.Type, p.ID)
	}
}

func TestEmitWithAckTimeoutAndDisconnect(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	socks := make(chan *Socket, 1)
	s.Of("/").OnConnection(func(so *Socket) { socks <- so })
	c := dial(t, hs.URL, 4, "")
	c.mustConnect("/", nil)
	so := <-socks
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := so.EmitWithAck(ctx, "q"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	c.expectEvent("/", "q")
	errc := make(chan error, 1)
	go func() {
		_, err := so.EmitWithAck(context.Background(), "q2")
		errc <- err
	}()
	c.expectEvent("/", "q2")
	c.send("1") // client namespace disconnect
	select {
	case err := <-errc:
		if !errors.Is(err, ErrDisconnected) {
			t.Fatalf("err %v", err)
		}
	case <-time.After(guard):
		t.Fatal("pending ack not failed on disconnect")
	}
	if _, err := so.EmitWithAck(context.Background(), "q3"); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("err %v", err)
	}
	if err := so.Emit("connect"); err == nil {
		t.Fatal("reserved event emitted")
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	for _, proto := range []int{4, 3} {
		t.Run("EIO"+string(rune('0'+proto)), func(t *testing.T) {
			s, hs := newTestServer(t, Config{})
			s.Of("/").OnConnection(func(so *Socket) {
				so.On("upload", func(e *Event) {
					b, _ := e.Args[0].([]byte)
					nested, _ := e.Args[1].(map[string]any)
					nb, _ := nested["bin"].([]byte)
					e.Ack(append(b, nb...), map[string]any{"n": []any{[]byte{9}}})
				})
			})
			c := dial(t, hs.URL, proto, "")
			if proto == 4 {
				c.mustConnect("/", nil)
			} else if p := c.next(); p.Type != PacketConnect {
				t.Fatalf("got %s", p.Type)
			}
			c.emit("/", 1, "upload", []byte{1, 2}, map[string]any{"bin": []byte{3}})
			p := c.next()
			want := []any{[]byte{1, 2, 3}, map[string]any{"n": []any{[]byte{9}}}}
			if p.Type != PacketBinaryAck || p.ID != 1 || !reflect.DeepEqual(p.Data, want) {
				t.Fatalf("got %s %d %v", p.Type, p.ID, p.Data)
			}
		})
	}
}

func TestRooms(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	nsp := s.Of("/")
	socks := make(chan *Socket, 3)
	nsp.OnConnection(func(so *Socket) {
		so.On("join", func(e *Event) {
			for _, r := range e.Args {
				so.Join(r.(string))
			}
			e.Ack()
		})
		so.On("leave", func(e *Event) { so.Leave(e.Args[0].(string)); e.Ack() })
		so.On("shout", func(e *Event) { so.To(e.Args[0].(string)).Emit("shout", e.Args[1]); e.Ack() })
		socks <- so
	})
	cs := make([]*testClient, 3)
	ids := make([]string, 3)
	for i := range cs {
		cs[i] = dial(t, hs.URL, 4, "")
		ids[i] = cs[i].mustConnect("/", nil)
		<-socks
	}
	join := func(c *testClient, rooms ...any) {
		c.emit("/", 1, "join", rooms...)
		if p := c.next(); p.Type != PacketAck {
			t.Fatalf("got %s", p.Type)
		}
	}
	join(cs[0], "a", "b")
	join(cs[1], "b")
	join(cs[2], "c")

	rooms := nsp.Socket(ids[0]).Rooms()
	sort.Strings(rooms)
	want := []string{"a", "b", ids[0]}
	sort.Strings(want)
	if !reflect.DeepEqual(rooms, want) {
		t.Fatalf("rooms %v want %v", rooms, want)
	}

	// To several rooms: each recipient once.
	if err := nsp.To("a", "b").Emit("news", 1); err != nil {
		t.Fatal(err)
	}
	cs[0].expectEvent("/", "news")
	cs[1].expectEvent("/", "news")
	// Except.
	nsp.To("a", "b", "c").Except("b").Emit("news", 2)
	p := cs[2].expectEvent("/", "news")
	if p.Data.([]any)[1] != 2.0 {
		t.Fatalf("got %v", p.Data)
	}
	// All but c.
	nsp.Except("c").Emit("news", 3)
	cs[0].expectEvent("/", "news")
	cs[1].expectEvent("/", "news")
	// Socket.To excludes the sender.
	cs[0].emit("/", 2, "shout", "b", "hey")
	if p := cs[0].next(); p.Type != PacketAck {
		t.Fatalf("got %s", p.Type)
	}
	cs[1].expectEvent("/", "shout")
	// Leave.
	cs[1].emit("/", 3, "leave", "b")
	cs[1].next()
	nsp.To("b").Emit("news", 4)
	cs[0].expectEvent("/", "news")
	// Whole namespace, to its socket id room.
	nsp.Emit("all")
	nsp.To(ids[2]).Emit("direct")
	for _, c := range cs {
		c.expectEvent("/", "all")
	}
	cs[2].expectEvent("/", "direct")
	for _, c := range cs {
		c.expectNothing(100 * time.Millisecond)
	}
	// Reserved names are refused.
	if err := nsp.To("a").Emit("disconnect"); err == nil {
		t.Fatal("reserved event broadcast")
	}
	// Disconnected sockets leave their rooms.
	cs[0].send("1")
	deadline := time.Now().Add(guard)
	for len(nsp.To("a").Sockets()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("socket still in room a after disconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	tests := []struct {
		name      string
		connected bool     // CONNECT to "/" first
		send      []string // Socket.IO packets (Engine.IO "4" added)
	}{
		{"second CONNECT", true, []string{"0"}},
		{"EVENT before CONNECT", false, []string{`2["echo"]`}},
		{"EVENT for another namespace", true, []string{`2/admin,["echo"]`}},
		{"ACK before CONNECT", false, []string{`31[]`}},
		{"engine 4abc", true, []string{"abc"}},
		{"engine 42{}", true, []string{"2{}"}},
		{"engine 42abc[...]", true, []string{`2abc["echo"]`}},
		{"non-string event name", true, []string{`2[1,"x"]`}},
		{"reserved event name", true, []string{`2["disconnect"]`}},
		{"CONNECT_ERROR from client", true, []string{`4{"message":"x"}`}},
		{"huge ack id", true, []string{`2` + "99999999999999999999999" + `["echo"]`}},
		{"huge attachments", true, []string{`5` + "99999999999" + `-["echo"]`}},
		{"bad placeholder", true, []string{`51-["echo",{"_placeholder":true,"num":3}]`, "b"}},
		{"nsp without slash", false, []string{`0admin,{}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, hs := newTestServer(t, Config{})
			s.Of("/admin")
			disc := make(chan string, 4)
			s.Of("/").OnConnection(func(so *Socket) {
				echo(so)
				so.OnDisconnect(func(r string) { disc <- r })
			})
			c := dial(t, hs.URL, 4, "")
			if tt.connected {
				c.mustConnect("/", nil)
			}
			if tt.name == "bad placeholder" {
				c.post([]string{"4" + tt.send[0], "bAQ=="})
			} else {
				c.send(tt.send...)
			}
			c.expectClosed()
			if tt.connected {
				select {
				case r := <-disc:
					if r != ReasonParseError {
						t.Fatalf("reason %q", r)
					}
				case <-time.After(guard):
					t.Fatal("no disconnect")
				}
			}
			checkAlive(t, hs.URL)
		})
	}
}

func TestDisconnectReasons(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	reasons := make(chan string, 4)
	// The connection handler runs after the CONNECT reply is written (as
	// in Node), so a test that has its reply learns of the server's socket
	// from the handler, not from what the handler stored so far.
	conns := make(chan *Socket, 4)
	s.Of("/").OnConnection(func(so *Socket) {
		so.OnDisconnecting(func(r string) {
			if len(so.Rooms()) == 0 {
				t.Error("rooms left before disconnecting")
			}
		})
		so.OnDisconnect(func(r string) { reasons <- r })
		conns <- so
	})
	wait := func(want string) {
		t.Helper()
		select {
		case r := <-reasons:
			if r != want {
				t.Fatalf("reason %q want %q", r, want)
			}
		case <-time.After(guard):
			t.Fatalf("no disconnect, want %q", want)
		}
	}
	connected := func() *Socket {
		t.Helper()
		select {
		case so := <-conns:
			return so
		case <-time.After(guard):
			t.Fatal("no connection handler ran")
			return nil
		}
	}
	c := dial(t, hs.URL, 4, "")
	c.mustConnect("/", nil)
	connected()
	c.send("1")
	wait(ReasonClientNamespaceDisconnect)

	c.mustConnect("/", nil)
	so := connected()
	so.Disconnect(false)
	if p := c.next(); p.Type != PacketDisconnect {
		t.Fatalf("got %s", p.Type)
	}
	wait(ReasonServerNamespaceDisconnect)
	if so.Connected() || so.Emit("x") == nil {
		t.Fatal("socket still connected")
	}

	c.mustConnect("/", nil)
	so = connected()
	so.Disconnect(true)
	wait(ReasonServerNamespaceDisconnect)
	c.expectClosed()

	c2 := dial(t, hs.URL, 4, "")
	c2.mustConnect("/", nil)
	connected()
	c2.post([]string{"1"}) // Engine.IO close from the client
	wait("transport close")
}

// TestConnectTimeout: a connection that joins no namespace within
// ConnectTimeout is closed, then and not before; one that joined stays.
// The timeout runs on a fake clock: how fast the machine runs the
// clients changes nothing.
func TestConnectTimeout(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	s, hs := newTestServer(t, Config{ConnectTimeout: 45 * time.Second, AfterFunc: clock.AfterFunc})
	s.Of("/").OnConnection(echo)
	c := dial(t, hs.URL, 4, "")
	c2 := dial(t, hs.URL, 4, "")
	c2.mustConnect("/", nil)
	clock.Advance(45*time.Second - time.Nanosecond)
	// Still open: a CONNECT to a namespace that does not exist is answered
	// (and joins nothing).
	if p := c.connect("/nowhere", nil); p.Type != PacketConnectError {
		t.Fatalf("got %s, want CONNECT_ERROR", p.Type)
	}
	clock.Advance(time.Nanosecond)
	c.expectClosed()
	// The one that joined in time answers past the timeout.
	c2.emit("/", 1, "echo", "still")
	if p := c2.next(); p.Type != PacketAck || p.ID != 1 {
		t.Fatalf("got %s %d, want the ack", p.Type, p.ID)
	}
}

func TestShutdown(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	reasons := make(chan string, 1)
	s.Of("/").OnConnection(func(so *Socket) { so.OnDisconnect(func(r string) { reasons <- r }) })
	c := dial(t, hs.URL, 4, "")
	c.mustConnect("/", nil)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reasons:
		if r != ReasonServerShuttingDown {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(guard):
		t.Fatal("no disconnect on shutdown")
	}
}

func TestHandlerPanicKeepsServer(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	s.Of("/").OnConnection(func(so *Socket) {
		echo(so)
		so.On("boom", func(e *Event) { panic("boom") })
	})
	c := dial(t, hs.URL, 4, "")
	c.mustConnect("/", nil)
	c.emit("/", NoID, "boom")
	c.emit("/", 1, "echo", "x")
	if p := c.next(); p.Type != PacketAck {
		t.Fatalf("got %s", p.Type)
	}
}

func TestOnAnyAndOrder(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	got := make(chan string, 100)
	s.Of("/").OnConnection(func(so *Socket) {
		so.OnAny(func(e *Event) { got <- "any:" + e.Name })
		so.On("n", func(e *Event) { got <- "n" })
	})
	c := dial(t, hs.URL, 4, "")
	c.mustConnect("/", nil)
	var pkts []string
	for i := 0; i < 20; i++ {
		pkts = append(pkts, `2["n",`+string(rune('0'+i%10))+`]`)
	}
	c.send(pkts...)
	for i := 0; i < 20; i++ {
		if a, b := <-got, <-got; a != "any:n" || b != "n" {
			t.Fatalf("order: %s %s", a, b)
		}
	}
}

// TestDrain checks that Drain closes every connection as a transport close
// (no DISCONNECT packet, which would tell a client not to reconnect), runs
// the disconnect handlers with "server shutting down", and refuses new
// connections.
func TestDrain(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	reasons := make(chan string, 2)
	s.Of("/").OnConnection(func(so *Socket) { so.OnDisconnect(func(r string) { reasons <- r }) })
	clients := []*testClient{dial(t, hs.URL, 4, ""), dial(t, hs.URL, 4, "")}
	for _, c := range clients {
		c.mustConnect("/", nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if n, err := s.Drain(ctx, 0); n != 2 || err != nil {
		t.Fatalf("Drain = %d, %v; want 2, nil", n, err)
	}
	for range clients {
		select {
		case r := <-reasons:
			if r != ReasonServerShuttingDown {
				t.Fatalf("reason %q", r)
			}
		default:
			t.Fatal("Drain returned before the disconnect handlers ran")
		}
	}
	for _, c := range clients {
		for closed := false; !closed; {
			select {
			case m := <-c.msgs:
				if p, err := c.dec.Add(m.data, m.binary); err == nil && p != nil && p.Type == PacketDisconnect {
					t.Fatal("the client got a DISCONNECT packet: it would not reconnect")
				}
				closed = m.closed
			case <-time.After(guard):
				t.Fatal("session not closed by the server")
			}
		}
	}
	res, err := http.Get(hs.URL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("handshake after Drain: %d, want 503", res.StatusCode)
	}
	if n, err := s.Drain(ctx, 0); n != 0 || err != nil {
		t.Fatalf("second Drain = %d, %v", n, err)
	}
}

// TestDrainKeepsTheSession: with recovery on, a drained socket's session
// is kept ("server shutting down" is recoverable), by the time its client
// sees the connection close. (That it is kept before the close, not just
// soon after, is engineio's TestDrainAsksTheReceiverFirst: this client
// would rarely see the difference.)
func TestDrainKeepsTheSession(t *testing.T) {
	s, hs := newTestServer(t, Config{Recovery: Recovery{Window: time.Minute}})
	s.Of("/").OnConnection(func(*Socket) {})
	c := dial(t, hs.URL, 4, "")
	c.mustConnect("/", nil)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	drained := make(chan error, 1)
	go func() { _, err := s.Drain(ctx, 0); drained <- err }()
	for closed := false; !closed; {
		select {
		case m := <-c.msgs:
			closed = m.closed
		case <-time.After(guard):
			t.Fatal("session not closed by the server")
		}
	}
	if n := s.recovery.mem.len(); n != 1 {
		t.Fatalf("the client saw the close with %d sessions kept, want 1", n)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
}
