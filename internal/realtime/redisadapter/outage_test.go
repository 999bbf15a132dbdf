package redisadapter_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventide/realtime/internal/realtime/redisadapter"
	"github.com/eventide/realtime/internal/socketio"
)

// Redis going away under a node: cut through a proxy, down from the start,
// and restarted.

// proxy is a TCP proxy to Redis that a test can cut, as if Redis went
// away, and restore.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func startProxy(t *testing.T) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(redisURL(), "redis://")
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	return p
}

func (p *proxy) url() string { return "redis://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

// cut closes every connection and refuses new ones until restore.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// logBuffer collects a logger's lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

// TestRedisOutage: a node whose Redis goes away reports not ready (one log
// line), fails its publishes at once, and when Redis is back subscribes
// again by itself (one log line) and delivers what others publish. The
// streams node also gets what was added to the stream while it was cut off.
func TestRedisOutage(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			key := testKey(t)
			px := startProxy(t)
			var logs logBuffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			cut := newBroker(t, k, redisadapter.Config{URL: px.url(), Key: key, Logger: log, HealthInterval: 200 * time.Millisecond, BlockTime: 200 * time.Millisecond})
			a := startNode(t, newBroker(t, k, redisadapter.Config{Key: key}))
			b := startNode(t, cut)
			_, _ = a.client("r")
			cb, sb := b.client("r")
			if err := a.nsp().To("r").Emit("x", "before"); err != nil {
				t.Fatal(err)
			}
			waitEvents(t, cb, `x "before"`)

			px.cut()
			eventually(t, "not ready", func() bool { return cut.Ready(context.Background()) != nil })
			for range 3 {
				if err := b.nsp().To("r").Emit("x", "lost"); err == nil {
					t.Fatal("publish while Redis is unreachable succeeded")
				}
			}
			if err := a.nsp().To("r").Emit("x", "during"); err != nil {
				t.Fatal(err)
			}
			if n := logs.count(`msg="redis unreachable`); n != 1 {
				t.Fatalf("%d 'redis unreachable' lines, want 1:\n%s", n, logs.buf.String())
			}

			px.restore()
			waitReady(t, cut)
			if n := logs.count(`msg="redis reachable again`); n != 1 {
				t.Fatalf("%d 'redis reachable again' lines, want 1", n)
			}
			// The subscriber is back on its channels: Redis counts it.
			eventually(t, "both nodes counted", func() bool {
				n, err := a.nsp().ServerCount(context.Background())
				return err == nil && n == 2
			})
			if err := a.nsp().To("r").Emit("x", "after"); err != nil {
				t.Fatal(err)
			}
			if k.name == "streams" {
				waitEvents(t, cb, `x "during"`, `x "after"`)
			} else {
				waitEvents(t, cb, `x "after"`) // pub/sub: what was published meanwhile is lost, as with Node
			}
			expect(t, b, cb, sb)
		})
	}
}

// TestRedisDownAtStart: a node started while Redis is unreachable is not
// ready and fails its publishes, then works once Redis is there.
func TestRedisDownAtStart(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			key := testKey(t)
			px := startProxy(t)
			px.cut()
			var logs logBuffer
			b := newBroker(t, k, redisadapter.Config{URL: px.url(), Key: key, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			eventually(t, "down logged", func() bool { return logs.count(`msg="redis unreachable`) == 1 })
			if b.Ready(t.Context()) == nil {
				t.Fatal("ready while Redis is unreachable")
			}
			p, _ := socketio.EncodeEvent("/", socketio.NoID, "x")
			if _, err := b.Publish(t.Context(), &socketio.Broadcast{Namespace: "/", Packet: p}); err == nil {
				t.Fatal("publish succeeded while Redis is unreachable")
			}
			px.restore()
			waitReady(t, b)
			if _, err := b.Publish(t.Context(), &socketio.Broadcast{Namespace: "/", Packet: p}); err != nil {
				t.Fatalf("publish once Redis is there: %v", err)
			}
			if n := logs.count(`msg="redis connected"`); n != 1 {
				t.Fatalf("%d 'redis connected' lines:\n%s", n, logs.buf.String())
			}
		})
	}
}

// privateRedis is a redis-server of the test's own, which it can restart:
// what a restart does to a node (its connections dropped, the pub/sub
// subscriptions and, without persistence, the stream gone) cannot be done
// to the shared one.
type privateRedis struct {
	t    *testing.T
	port string
	cmd  *exec.Cmd
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_ = ln.Close()
	r := &privateRedis{t: t, port: port}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *privateRedis) url() string { return "redis://127.0.0.1:" + r.port }

func (r *privateRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", r.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("redis-server: %v", err)
	}
	opt, _ := redis.ParseURL(r.url())
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	eventually(r.t, "private redis answers", func() bool { return rdb.Ping(context.Background()).Err() == nil })
}

func (r *privateRedis) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

// TestRedisRestart: Redis restarted (without persistence) under two nodes;
// both subscribe again and read the new stream, and broadcasts flow again.
func TestRedisRestart(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			rs := startPrivateRedis(t)
			// A blocking read that nothing ends: the streams reader must say
			// it is back once Redis answers, not when its read returns
			// (while a node is not ready it adds nothing to the stream).
			cfg := redisadapter.Config{URL: rs.url(), Key: "socket.io", BlockTime: time.Hour, HealthInterval: 200 * time.Millisecond}
			ba, bb := newBroker(t, k, cfg), newBroker(t, k, cfg)
			a, b := startNode(t, ba), startNode(t, bb)
			_, _ = a.client("r")
			cb, sb := b.client("r")
			if err := a.nsp().To("r").Emit("x", "before"); err != nil {
				t.Fatal(err)
			}
			waitEvents(t, cb, `x "before"`)

			rs.stop()
			eventually(t, "not ready", func() bool { return ba.Ready(t.Context()) != nil && bb.Ready(t.Context()) != nil })
			rs.start()
			waitReady(t, ba)
			waitReady(t, bb)
			eventually(t, "both nodes subscribed again", func() bool {
				n, err := a.nsp().ServerCount(t.Context())
				return err == nil && n == 2
			})
			if err := a.nsp().To("r").Emit("x", "after"); err != nil {
				t.Fatal(err)
			}
			waitEvents(t, cb, `x "after"`)
			expect(t, b, cb, sb)
		})
	}
}

// TestClassicResyncAfterOutage: what another node published while this
// node's subscriber was cut off, with nothing after it to show the gap, is
// filled from the publisher's log once the subscriber is back (ADR 0027).
func TestClassicResyncAfterOutage(t *testing.T) {
	k := kinds[0]
	if k.name != "classic" {
		t.Fatalf("kinds[0] is %s", k.name)
	}
	key := testKey(t)
	px := startProxy(t)
	cut := newBroker(t, k, redisadapter.Config{URL: px.url(), Key: key, HealthInterval: 200 * time.Millisecond})
	a := startNode(t, newBroker(t, k, redisadapter.Config{Key: key}))
	b := startNode(t, cut)
	var mu sync.Mutex
	var logged []*socketio.Broadcast // the publisher's log of stream "p"
	b.nsp().FillStreamGaps(func(stream string, after, before int64) []*socketio.Broadcast {
		mu.Lock()
		defer mu.Unlock()
		var out []*socketio.Broadcast
		for _, bc := range logged {
			if bc.Stream == stream && bc.Seq > after && (before == 0 || bc.Seq < before) {
				out = append(out, bc)
			}
		}
		return out
	})
	_, _ = a.client("r")
	cb, sb := b.client("r")
	emit := func(seq int64) {
		t.Helper()
		p, err := socketio.EncodeEvent("/", socketio.NoID, "x", seq)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		logged = append(logged, &socketio.Broadcast{Namespace: "/", Packet: p, Rooms: []string{"r"}, Stream: "p", Seq: seq})
		mu.Unlock()
		if err := a.nsp().To("r").Sequenced("p", seq).Emit("x", seq); err != nil {
			t.Fatal(err)
		}
	}
	emit(1)
	waitEvents(t, cb, `x 1`)

	px.cut()
	eventually(t, "not ready", func() bool { return cut.Ready(context.Background()) != nil })
	emit(2) // b is not subscribed: pub/sub drops it for b
	emit(3)
	px.restore()
	waitReady(t, cut)
	waitEvents(t, cb, `x 2`, `x 3`)
	emit(3) // a late repeat
	emit(4)
	waitEvents(t, cb, `x 4`)
	expect(t, b, cb, sb)
}
