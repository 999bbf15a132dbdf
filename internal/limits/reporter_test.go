package limits_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/limits"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestHitIsRateLimitedPerLimit(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	r := limits.New(limits.Config{
		Logger:   slog.New(slog.NewTextHandler(&buf, nil)),
		Interval: 10 * time.Second,
		Now:      clock.Now,
	})
	for range 1000 {
		r.Hit("http.header_bytes", "10.0.0.1:1234")
	}
	r.Hit("ws.frame_bytes", "10.0.0.2:99", "size", 5)
	if got := strings.Count(buf.String(), "limit reached"); got != 2 {
		t.Fatalf("%d lines for 1001 hits of two limits, want 2:\n%s", got, buf.String())
	}
	if !strings.Contains(buf.String(), "remote=10.0.0.1:1234") || !strings.Contains(buf.String(), "size=5") {
		t.Fatalf("line misses the remote address or the attributes:\n%s", buf.String())
	}

	clock.Add(10 * time.Second)
	buf.Reset()
	r.Hit("http.header_bytes", "10.0.0.3:1")
	if !strings.Contains(buf.String(), "suppressed=999") {
		t.Fatalf("next line does not say how many hits were not logged:\n%s", buf.String())
	}
	if got := r.Count("http.header_bytes"); got != 1001 {
		t.Fatalf("Count = %d, want 1001", got)
	}
	counts := r.Counts()
	if len(counts) != 2 || counts[0].Limit != "http.header_bytes" || counts[1].Hits != 1 {
		t.Fatalf("Counts = %+v", counts)
	}
}

func TestNilReporterDoesNothing(t *testing.T) {
	var r *limits.Reporter
	r.Hit("x", "y")
	if r.Count("x") != 0 || r.Counts() != nil {
		t.Fatal("nil reporter counted")
	}
}
