package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/metrics"
	"github.com/eventide/realtime/internal/socketio"
	"github.com/eventide/realtime/internal/socketio/siotest"
)

// scrape reads the admin listener's /metrics.
func scrape(t *testing.T, adminAddr string) metrics.Scrape {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	s, err := metrics.Get(ctx, "http://"+adminAddr+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitScrape scrapes until ok holds (a counter is bumped after the packet
// it counts is on its way, so a client may see the packet first); the
// guard only ends a broken run.
func waitScrape(t *testing.T, adminAddr, what string, ok func(metrics.Scrape) bool) metrics.Scrape {
	t.Helper()
	deadline := time.Now().Add(guard)
	for {
		s := scrape(t, adminAddr)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within %v; last scrape:\n%s", what, guard, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// adminAddr is the admin listener's address, from serve's log.
func adminAddr(t *testing.T, stderr *lockedBuffer) string {
	t.Helper()
	m := adminListenRE.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no admin listener in the log:\n%s", stderr)
	}
	return m[1]
}

// postSlot creates a slot of provider 42 with token and returns the status.
func postSlot(t *testing.T, base, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/providers/42/slots",
		strings.NewReader(`{"start":"2030-01-01T09:00:00Z","end":"2030-01-01T09:30:00Z"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func value(s metrics.Scrape, name string, labels ...string) float64 {
	v, _ := s.Value(name, labels...)
	return v
}

// TestMetricsMoveWithTraffic starts the real server with its admin listener
// on :0, drives Socket.IO clients and REST writes, and checks the scraped
// figures move as they should (issue 12, "Done means").
func TestMetricsMoveWithTraffic(t *testing.T) {
	base, _, stderr, stop := startServe(t, "--jwt-secret", testSecret, "--admin-addr", "127.0.0.1:0")
	admin := adminAddr(t, stderr)

	// Never on the public listener.
	if status, body := get(t, base+"/metrics"); status != http.StatusNotFound || strings.Contains(body, "eventide_") {
		t.Fatalf("public /metrics: %d %.200s", status, body)
	}

	before := scrape(t, admin)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "eventide_relay_lag_seconds", "eventide_engineio_connections"} {
		if _, ok := before.Value(name); !ok {
			t.Errorf("no %s in the scrape", name)
		}
	}
	if v := value(before, "eventide_engineio_connections"); v != 0 {
		t.Errorf("connections before any client: %v", v)
	}

	minter, err := auth.NewMinter([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := minter.Mint(auth.Claims{Subject: "watcher", Role: auth.RoleClient, Providers: []string{"42"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// Three sockets in provider-42's room.
	const n = 3
	clients := make([]*siotest.Client, n)
	for i := range clients {
		c := siotest.Dial(t, base, siotest.Options{})
		c.MustConnect(map[string]any{"token": tok})
		c.Emit(socketio.NoID, "joinRoom", "provider-42")
		if name, _ := c.NextEvent(); name != "joinedRoom" {
			t.Fatalf("after joinRoom: %s", name)
		}
		clients[i] = c
	}
	up := waitScrape(t, admin, "three sockets joined", func(s metrics.Scrape) bool {
		return value(s, "eventide_socketio_events_sent_total", "event", "joinedRoom") == n
	})
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"eventide_engineio_connections", []string{"transport", "websocket", "protocol", "4"}, n},
		{"eventide_engineio_handshakes_total", []string{"transport", "websocket", "protocol", "4"}, n},
		{"eventide_socketio_sockets", []string{"namespace", "/"}, n},
		{"eventide_socketio_rooms", []string{"namespace", "/"}, 1},
		{"eventide_socketio_events_received_total", []string{"event", "joinRoom"}, n},
	} {
		if got := value(up, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// A REST change: one event out per socket of the room.
	writer, _, err := minter.Mint(auth.Claims{Subject: "writer", Role: auth.RoleProvider, ProviderID: "42"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if status := postSlot(t, base, writer); status != http.StatusCreated {
		t.Fatalf("POST slot: %d", status)
	}
	if status, _ := get(t, base+"/api/v1/providers/42/slots"); status != http.StatusUnauthorized {
		t.Fatalf("GET without a token: %d", status)
	}
	for _, c := range clients {
		if name, _ := c.NextEvent(); name != "availabilityUpdated" {
			t.Fatalf("after the POST: %s", name)
		}
	}
	after := waitScrape(t, admin, "the change fanned out", func(s metrics.Scrape) bool {
		return value(s, "eventide_socketio_events_sent_total", "event", "availabilityUpdated") == n
	})
	const slots = "/api/v1/providers/{providerId}/slots"
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"eventide_http_requests_total", []string{"route", slots, "method", "POST", "code", "201"}, 1},
		{"eventide_http_requests_total", []string{"route", slots, "method", "GET", "code", "401"}, 1},
		{"eventide_http_request_duration_seconds", []string{"route", slots, "method", "POST"}, 1},
		{"eventide_store_operation_duration_seconds", []string{"op", "create_slot"}, 1},
		{"eventide_relay_events_published_total", nil, 1},
		{"eventide_socketio_broadcast_recipients_total", nil, n},
	} {
		if got := value(after, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := value(after, "eventide_socketio_broadcast_duration_seconds"); got < 1 {
		t.Errorf("no broadcast timed: %v", got)
	}
	if got := value(after, "eventide_broker_publish_duration_seconds"); got < 1 {
		t.Errorf("no broker publish timed: %v", got)
	}
	if got, was := value(after, "eventide_engineio_written_bytes_total", "transport", "websocket"), value(up, "eventide_engineio_written_bytes_total", "transport", "websocket"); got <= was {
		t.Errorf("bytes written did not grow with the fan-out: %v then %v", was, got)
	}
	if lag, ok := after.Value("eventide_relay_lag_seconds"); !ok || lag < 0 {
		t.Errorf("relay lag %v (present %v)", lag, ok)
	}

	// Refusals by reason: a bad token, then none. The connections stay.
	bad := siotest.Dial(t, base, siotest.Options{})
	if p := bad.Connect(map[string]any{"token": "not-a-jwt"}); p.Type != socketio.PacketConnectError {
		t.Fatalf("bad token: %s", p.Type)
	}
	if p := bad.Connect(nil); p.Type != socketio.PacketConnectError {
		t.Fatalf("no token: %s", p.Type)
	}
	refused := waitScrape(t, admin, "the refusals", func(s metrics.Scrape) bool {
		return value(s, "eventide_socketio_connect_refusals_total", "reason", "invalid_token") == 1 &&
			value(s, "eventide_socketio_connect_refusals_total", "reason", "no_token") == 1
	})
	if got := value(refused, "eventide_limit_hits_total", "limit", "realtime.connect_refused"); got != 2 {
		t.Errorf("limit hits of realtime.connect_refused = %v, want 2", got)
	}

	// Down again when the clients leave.
	bad.Close()
	for _, c := range clients {
		c.Close()
	}
	down := waitScrape(t, admin, "every connection closed", func(s metrics.Scrape) bool {
		return value(s, "eventide_engineio_connections") == 0 && value(s, "eventide_socketio_sockets", "namespace", "/") == 0
	})
	if got := value(down, "eventide_engineio_disconnects_total"); got != n+1 {
		t.Errorf("disconnects %v, want %d", got, n+1)
	}
	if got := value(down, "eventide_socketio_rooms", "namespace", "/"); got != 0 {
		t.Errorf("rooms after every client left: %v", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestNoMetricsWithoutAdminListener: with --admin-addr "" nothing is
// served and the public /metrics is still a 404.
func TestNoMetricsWithoutAdminListener(t *testing.T) {
	base, _, _, stop := startServe(t, "--admin-addr", "")
	if status, _ := get(t, base+"/metrics"); status != http.StatusNotFound {
		t.Errorf("public /metrics without the admin listener: %d", status)
	}
	_ = stop()
}

// TestMetricsSeeARedisOutage: with Redis cut off, a committed change is not
// published: the broker's and the relay's errors count and the relay lag
// grows (the figures the alert examples of docs/operations.md watch); once
// Redis is back the change goes out and the lag is 0.
func TestMetricsSeeARedisOutage(t *testing.T) {
	px := startRedisProxy(t)
	key := make([]byte, 6)
	_, _ = rand.Read(key)
	base, _, stderr, stop := startServe(t, "--jwt-secret", testSecret, "--admin-addr", "127.0.0.1:0",
		"--adapter", "redis", "--redis-url", px.url(), "--redis-key", "eventide-test-metrics-"+hex.EncodeToString(key))
	admin := adminAddr(t, stderr)
	minter, err := auth.NewMinter([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	writer, _, err := minter.Mint(auth.Claims{Subject: "writer", Role: auth.RoleProvider, ProviderID: "42"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	px.cut()
	if status := postSlot(t, base, writer); status != http.StatusCreated {
		t.Fatalf("POST slot with Redis down: %d (the commit does not wait for Redis)", status)
	}
	down := waitScrape(t, admin, "the failed publish counted", func(s metrics.Scrape) bool {
		return value(s, "eventide_broker_publish_errors_total") >= 1 && value(s, "eventide_relay_publish_errors_total") >= 1 &&
			value(s, "eventide_relay_lag_seconds") > 0
	})
	if got := value(down, "eventide_relay_events_published_total"); got != 0 {
		t.Errorf("published %v while Redis is down", got)
	}

	px.restore()
	waitScrape(t, admin, "the change published once Redis is back", func(s metrics.Scrape) bool {
		return value(s, "eventide_relay_events_published_total") == 1 && value(s, "eventide_relay_lag_seconds") == 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
