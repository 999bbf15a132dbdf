package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// msgConn is a client connection as a shard reads it: Engine.IO packets,
// one per message. *ws.Conn is one (WebSocket); *pollConn is the other
// (HTTP long-polling).
type msgConn interface {
	ReadMessage(maxSize int64) (ws.Opcode, []byte, error)
	WriteMessage(op ws.Opcode, p []byte) error
	Close() error
}

var (
	_ msgConn = (*ws.Conn)(nil)
	_ msgConn = (*pollConn)(nil)
)

// recordSeparator separates Engine.IO 4 packets in a polling payload.
const recordSeparator = '\x1e'

// pollConn is a Socket.IO v5 client on Engine.IO 4 HTTP long-polling that
// never upgrades, as a client behind a proxy that refuses WebSocket: a GET
// that the server holds until it has packets, a POST per packet sent. Every
// request of a connection goes to the same node (sticky, as polling needs).
type pollConn struct {
	client *http.Client
	base   string // http://host:port/socket.io/?EIO=4&transport=polling&sid=...

	ctx    context.Context // ends every request at Close
	cancel context.CancelFunc

	queue [][]byte // packets received, not yet read
	once  sync.Once
}

// DialPolling opens a long-polling client: the handshake GET, CONNECT and
// joinRoom when cfg.Room is set, all within ctx, from cfg.Source.
func DialPolling(ctx context.Context, cfg DialConfig) (*pollConn, error) {
	u, err := CheckLoopback(cfg.URL)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	if cfg.Source != nil {
		d.LocalAddr = cfg.Source
	}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 2, DisableCompression: true}
	pctx, cancel := context.WithCancel(context.Background())
	c := &pollConn{client: &http.Client{Transport: tr}, ctx: pctx, cancel: cancel}
	fail := func(err error) (*pollConn, error) {
		c.Close()
		return nil, err
	}
	stop := context.AfterFunc(ctx, cancel) // ctx bounds the handshake
	defer stop()

	c.base = "http://" + u.Host + strings.TrimSuffix(u.Path, "/") + "/socket.io/?EIO=4&transport=polling"
	open, err := readUntil(c, "0")
	if err != nil {
		return fail(fmt.Errorf("engine.io open: %w", err))
	}
	var hs struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(open[1:], &hs); err != nil || hs.SID == "" {
		return fail(fmt.Errorf("engine.io open %.120q: no sid", open))
	}
	c.base += "&sid=" + url.QueryEscape(hs.SID)
	if err := connectAndJoin(c, cfg); err != nil {
		return fail(err)
	}
	if !stop() {
		return fail(ctx.Err())
	}
	return c, nil
}

// ReadMessage returns the next packet, polling (GET) when none is queued.
// Binary packets (base64, "b...") are returned as they came.
func (c *pollConn) ReadMessage(maxSize int64) (ws.Opcode, []byte, error) {
	for len(c.queue) == 0 {
		body, err := c.do(http.MethodGet, nil, maxSize)
		if err != nil {
			return 0, nil, err
		}
		for _, p := range bytes.Split(body, []byte{recordSeparator}) {
			if len(p) > 0 {
				c.queue = append(c.queue, p)
			}
		}
	}
	p := c.queue[0]
	c.queue = c.queue[1:]
	return ws.OpText, p, nil
}

// WriteMessage sends one packet in a POST.
func (c *pollConn) WriteMessage(_ ws.Opcode, p []byte) error {
	body, err := c.do(http.MethodPost, p, 64)
	if err != nil {
		return err
	}
	if string(body) != "ok" {
		return fmt.Errorf("post: %.64q", body)
	}
	return nil
}

func (c *pollConn) do(method string, body []byte, maxSize int64) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.ctx, method, c.base+"&t="+strconv.FormatInt(time.Now().UnixNano(), 36), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxSize+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %d %.120s", method, resp.StatusCode, b)
	}
	if int64(len(b)) > maxSize {
		return nil, fmt.Errorf("%s: payload over %d bytes", method, maxSize)
	}
	return b, nil
}

// Close ends the session: it cancels the request in flight and closes the
// client's connections (the server sees the session's poll end).
func (c *pollConn) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.client.CloseIdleConnections()
	})
	return nil
}
