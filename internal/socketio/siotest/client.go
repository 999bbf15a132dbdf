// Package siotest is a Socket.IO client for Go tests of servers built on
// internal/socketio: it speaks Engine.IO v4 (socket.io-client 3/4) or v3
// (2.x) over a real WebSocket, so a test sees what a client sees — the
// CONNECT or CONNECT_ERROR answer, events, acks, DISCONNECT and the close
// of the connection — without Node.js.
//
// Every wait is bounded (Timeout) only as a guard against a hang; tests
// wait for packets, never for time to pass. The client answers a v4
// server's pings; as a v3 client it sends none, so a v3 session lasts
// the server's pingInterval + pingTimeout at most.
package siotest

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/socketio"
	"github.com/eventide/realtime/internal/ws"
)

// Timeout bounds every wait of a Client: long enough for a loaded machine,
// only reached when a test is broken.
const Timeout = 30 * time.Second

// Options configures Dial.
type Options struct {
	// Protocol is the Engine.IO protocol: 4 (default) or 3.
	Protocol int
	// Query is added to the handshake URL (socket.io-client 2.x sends its
	// token there).
	Query url.Values
	// Header is sent with the WebSocket upgrade request.
	Header http.Header
}

// Client is one Engine.IO connection over WebSocket.
type Client struct {
	t     testing.TB
	proto int
	conn  *ws.Conn
	dec   socketio.Decoder
	msgs  chan message
	done  chan struct{} // closed when the reader stops
	wmu   sync.Mutex
	wg    sync.WaitGroup
}

type message struct {
	data   []byte
	binary bool
}

// Dial opens a WebSocket Engine.IO session with the server at serverURL
// (http://host:port; the path is /socket.io/). It is closed at the end of
// the test.
func Dial(t testing.TB, serverURL string, opts Options) *Client {
	t.Helper()
	if opts.Protocol == 0 {
		opts.Protocol = 4
	}
	q := url.Values{}
	for k, v := range opts.Query {
		q[k] = v
	}
	q.Set("EIO", strconv.Itoa(opts.Protocol))
	q.Set("transport", "websocket")
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	conn, err := ws.Dial(ctx, strings.TrimSuffix(serverURL, "/")+"/socket.io/?"+q.Encode(), ws.DialOptions{Header: opts.Header})
	if err != nil {
		t.Fatalf("siotest: dial: %v", err)
	}
	c := &Client{
		t: t, proto: opts.Protocol, conn: conn, dec: socketio.Decoder{Client: true},
		msgs: make(chan message, 1024), done: make(chan struct{}),
	}
	op, open, err := conn.ReadMessage(1 << 20)
	if err != nil || op != ws.OpText || len(open) == 0 || open[0] != '0' {
		t.Fatalf("siotest: open packet: %v %q", err, open)
	}
	c.wg.Add(1)
	go c.read()
	t.Cleanup(c.Close)
	return c
}

// read runs until the server closes the connection: it answers v4 pings and
// queues Socket.IO messages.
func (c *Client) read() {
	defer c.wg.Done()
	defer close(c.done)
	for {
		op, b, err := c.conn.ReadMessage(16 << 20)
		if err != nil {
			return
		}
		if op == ws.OpBinary {
			if c.proto == 3 && len(b) > 0 {
				b = b[1:] // v3 prefixes binary frames with the packet type
			}
			c.msgs <- message{data: bytes.Clone(b), binary: true}
			continue
		}
		if len(b) == 0 {
			continue
		}
		switch b[0] {
		case '1': // Engine.IO close
			return
		case '2': // v4 ping
			c.write(ws.OpText, append([]byte{'3'}, b[1:]...))
		case '4':
			c.msgs <- message{data: bytes.Clone(b[1:])}
		}
	}
}

func (c *Client) write(op ws.Opcode, b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.WriteMessage(op, b)
}

// SendText sends one Socket.IO packet in its text form, e.g. `2["x"]`.
func (c *Client) SendText(text string) { c.write(ws.OpText, []byte("4"+text)) }

// Send sends an encoded packet and its attachments.
func (c *Client) Send(p *socketio.Packet) {
	c.write(ws.OpText, append([]byte{'4'}, p.Text...))
	for _, a := range p.Attachments {
		if c.proto == 3 {
			a = append([]byte{4}, a...)
		}
		c.write(ws.OpBinary, a)
	}
}

// Connect connects to the namespace "/" and returns the server's answer:
// CONNECT, or CONNECT_ERROR (v3: ERROR) with the refusal. A v4 client
// sends auth (nil for none); a v3 client is connected to "/" by the server
// on its own and sends nothing.
func (c *Client) Connect(auth any) *socketio.DecodedPacket {
	c.t.Helper()
	if c.proto == 4 {
		p, err := socketio.Encode(socketio.PacketConnect, "/", socketio.NoID, auth)
		if err != nil {
			c.t.Fatal(err)
		}
		c.Send(p)
	}
	return c.Next()
}

// MustConnect connects to "/" (see Connect) and fails the test unless the
// server accepts.
func (c *Client) MustConnect(auth any) {
	c.t.Helper()
	if p := c.Connect(auth); p.Type != socketio.PacketConnect {
		c.t.Fatalf("siotest: connect refused: %s %v", p.Type, p.Data)
	}
}

// Emit sends event with args to "/", asking for an ack with id unless id
// is socketio.NoID.
func (c *Client) Emit(id int64, event string, args ...any) {
	c.t.Helper()
	p, err := socketio.EncodeEvent("/", id, event, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.Send(p)
}

// Next returns the next packet from the server; it fails the test if the
// connection closes first.
func (c *Client) Next() *socketio.DecodedPacket {
	c.t.Helper()
	p, ok := c.next()
	if !ok {
		c.t.Fatal("siotest: connection closed while waiting for a packet")
	}
	return p
}

// NextEvent returns the name and arguments of the next packet, which must
// be an event.
func (c *Client) NextEvent() (string, []any) {
	c.t.Helper()
	p := c.Next()
	if p.Type != socketio.PacketEvent && p.Type != socketio.PacketBinaryEvent {
		c.t.Fatalf("siotest: got %s %v, want an event", p.Type, p.Data)
	}
	arr := p.Data.([]any)
	return arr[0].(string), arr[1:]
}

// NextAck returns the arguments of the next packet, which must be the ack
// with id.
func (c *Client) NextAck(id int64) []any {
	c.t.Helper()
	p := c.Next()
	if (p.Type != socketio.PacketAck && p.Type != socketio.PacketBinaryAck) || p.ID != id {
		c.t.Fatalf("siotest: got %s %d %v, want the ack %d", p.Type, p.ID, p.Data, id)
	}
	return p.Data.([]any)
}

// Closed waits until the server closes the connection and returns the
// packets received before; it fails the test if that does not happen.
func (c *Client) Closed() []*socketio.DecodedPacket {
	c.t.Helper()
	var got []*socketio.DecodedPacket
	for {
		p, ok := c.next()
		if !ok {
			return got
		}
		got = append(got, p)
	}
}

// next returns the next packet, or false once the connection is closed
// and every packet received before was returned.
func (c *Client) next() (*socketio.DecodedPacket, bool) {
	c.t.Helper()
	guard := time.NewTimer(Timeout)
	defer guard.Stop()
	for {
		var m message
		select {
		case m = <-c.msgs:
		case <-c.done:
			select {
			case m = <-c.msgs:
			default:
				return nil, false
			}
		case <-guard.C:
			c.t.Fatalf("siotest: nothing from the server in %v", Timeout)
		}
		p, err := c.dec.Add(m.data, m.binary)
		if err != nil {
			c.t.Fatalf("siotest: decode %q: %v", m.data, err)
		}
		if p != nil {
			return p, true
		}
	}
}

// Close closes the connection (Engine.IO close, then the WebSocket).
func (c *Client) Close() {
	select {
	case <-c.done:
	default:
		c.write(ws.OpText, []byte("1"))
	}
	_ = c.conn.Close()
	c.wg.Wait()
}

// Drop ends the connection as a network failure does: the WebSocket
// closes without an Engine.IO close packet (the server sees "transport
// close" or "transport error").
func (c *Client) Drop() {
	_ = c.conn.Close()
	c.wg.Wait()
}
