package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAdapterFlagsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--adapter", "kafka"}, "--adapter"},
		{[]string{"--adapter", "redis", "--redis-url", "http://x"}, "redis URL"},
		{[]string{"--redis-stream-maxlen", "0"}, "--redis-stream-maxlen"},
		{[]string{"--redis-request-timeout", "0s"}, "--redis-request-timeout"},
		{[]string{"--recovery-window", "-1s"}, "--recovery-window"},
		{[]string{"--recovery-max-packets", "0"}, "--recovery-max-packets"},
		{[]string{"--recovery-max-bytes", "-1"}, "--recovery-max-bytes"},
		{[]string{"--recovery-max-sessions", "0"}, "--recovery-max-sessions"},
	} {
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--raw-addr", "", "--data-dir", t.TempDir()}, tc.args...)
		err := run(context.Background(), args, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to name %s", tc.args, err, tc.want)
		}
	}
}

// TestReadyzFollowsRedis: with a Redis adapter, /readyz says not ready
// while Redis is unreachable and ready again when it is back, and the log
// says so once each way. Redis is reached through a proxy the test cuts.
func TestReadyzFollowsRedis(t *testing.T) {
	for _, adapter := range []string{"redis", "redis-streams"} {
		t.Run(adapter, func(t *testing.T) {
			px := startRedisProxy(t)
			key := make([]byte, 6)
			_, _ = rand.Read(key)
			base, _, stderr, stop := startServeEnv(t, map[string]string{"EVENTIDE_ADAPTER": adapter},
				"--redis-url", px.url(), "--redis-key", "eventide-test-cmd-"+hex.EncodeToString(key))
			readyz := func() int {
				resp, err := http.Get(base + "/readyz")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			waitFor(t, "ready", func() bool { return readyz() == http.StatusOK })
			px.cut()
			waitFor(t, "not ready", func() bool { return readyz() == http.StatusServiceUnavailable })
			px.restore()
			waitFor(t, "ready again", func() bool { return readyz() == http.StatusOK })
			logs := stderr.String()
			for _, line := range []string{`msg="redis unreachable`, `msg="redis reachable again"`} {
				if n := strings.Count(logs, line); n != 1 {
					t.Errorf("%d lines %s, want 1:\n%s", n, line, logs)
				}
			}
			if !strings.Contains(logs, "adapter="+adapter) {
				t.Errorf("the adapter is not logged:\n%s", logs)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// redisProxy forwards to the test Redis until cut.
type redisProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	down  bool
	conns []net.Conn
}

func startRedisProxy(t *testing.T) *redisProxy {
	t.Helper()
	target := "127.0.0.1:6379"
	if u := os.Getenv("EVENTIDE_TEST_REDIS_URL"); u != "" {
		target = strings.TrimPrefix(u, "redis://")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &redisProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			up, derr := net.Dial("tcp", target)
			if p.down || derr != nil {
				p.mu.Unlock()
				_ = c.Close()
				if up != nil {
					_ = up.Close()
				}
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	return p
}

func (p *redisProxy) url() string { return "redis://" + p.ln.Addr().String() }

func (p *redisProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *redisProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
