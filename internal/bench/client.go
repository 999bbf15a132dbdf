package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// DialConfig is one Socket.IO v5 (Engine.IO 4) client over WebSocket: the
// load generator's connections, and the abuse tool's canary and probes.
type DialConfig struct {
	// URL is the server's base URL, http://127.x.y.z:port.
	URL string
	// Connect is the Socket.IO CONNECT packet sent to "/", usually
	// ConnectPacket(token); the abuse tool sends oversized ones.
	Connect []byte
	// Room is joined (joinRoom, then joinedRoom awaited) after connecting;
	// empty joins none.
	Room string
	// Source is the local address to dial from; nil lets the kernel choose.
	Source *net.TCPAddr
}

// ConnectPacket is the CONNECT packet with the auth {"token": token}.
func ConnectPacket(token string) []byte {
	return []byte(`40{"token":` + strconv.Quote(token) + `}`)
}

// Pong is the Engine.IO pong packet, the answer to a ping ("2").
var Pong = []byte("3")

// Dial opens a client: the WebSocket, the Engine.IO open packet, CONNECT,
// and joinRoom when cfg.Room is set, all within ctx. The connection it
// returns has no read deadline; its reader must answer pings ("2") with
// Pong, or the server ends the session.
func Dial(ctx context.Context, cfg DialConfig) (*ws.Conn, error) {
	wsURL, err := socketURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	c, err := ws.Dial(ctx, wsURL, ws.DialOptions{Header: http.Header{}, LocalAddr: cfg.Source, ReadBufferSize: 2048})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	fail := func(err error) (*ws.Conn, error) {
		c.Close()
		return nil, err
	}
	// The context bounds the reads below, which do not take one.
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.SetReadDeadline(deadline)
	}
	// Engine.IO open packet, then Socket.IO CONNECT to "/".
	if _, err := ReadUntil(c, "0"); err != nil {
		return fail(fmt.Errorf("engine.io open: %w", err))
	}
	if err := connectAndJoin(c, cfg); err != nil {
		return fail(err)
	}
	if !stop() {
		return fail(ctx.Err())
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, nil
}

// connectAndJoin sends CONNECT and joins cfg.Room when it is set: the
// handshake after the Engine.IO open packet, the same on either transport.
func connectAndJoin(c msgConn, cfg DialConfig) error {
	if err := c.WriteMessage(ws.OpText, cfg.Connect); err != nil {
		return fmt.Errorf("send connect: %w", err)
	}
	p, err := readUntil(c, "4")
	if err != nil {
		return fmt.Errorf("socket.io connect: %w", err)
	}
	if len(p) < 2 || p[1] != '0' {
		return fmt.Errorf("socket.io connect_error: %.120s", p)
	}
	if cfg.Room == "" {
		return nil
	}
	if err := c.WriteMessage(ws.OpText, []byte(`42["joinRoom",`+strconv.Quote(cfg.Room)+`]`)); err != nil {
		return fmt.Errorf("send joinRoom: %w", err)
	}
	for {
		p, err := readUntil(c, "42")
		if err != nil {
			return fmt.Errorf("joinRoom: %w", err)
		}
		if hasPrefix(p, `42["joinedRoom"`) {
			return nil
		}
		if hasPrefix(p, `42["error"`) || hasPrefix(p, `42["exception"`) {
			return fmt.Errorf("joinRoom %s refused: %.120s", cfg.Room, p)
		}
	}
}

// ReadUntil reads text messages, answering Engine.IO pings, until one
// starts with prefix. A CONNECT error ("44...") or an Engine.IO close ends
// it with an error.
func ReadUntil(c *ws.Conn, prefix string) ([]byte, error) { return readUntil(c, prefix) }

func readUntil(c msgConn, prefix string) ([]byte, error) {
	for {
		op, p, err := c.ReadMessage(1 << 20)
		if err != nil {
			return nil, err
		}
		if op != ws.OpText || len(p) == 0 {
			continue
		}
		if p[0] == '2' && len(p) == 1 {
			if err := c.WriteMessage(ws.OpText, Pong); err != nil {
				return nil, err
			}
			continue
		}
		if p[0] == '1' {
			return nil, errors.New("server closed the session")
		}
		if hasPrefix(p, prefix) {
			return p, nil
		}
		if len(p) > 1 && p[0] == '4' && p[1] == '4' {
			return nil, fmt.Errorf("connect_error: %.120s", p)
		}
	}
}

func hasPrefix(p []byte, s string) bool { return len(p) >= len(s) && string(p[:len(s)]) == s }
