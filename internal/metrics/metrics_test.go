package metrics_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/engineio"
	"github.com/eventide/realtime/internal/limits"
	"github.com/eventide/realtime/internal/metrics"
	"github.com/eventide/realtime/internal/socketio"
)

// full returns a Metrics whose every family has a series: the state
// sources return one of each, and each observer was called once.
func full(t *testing.T) (*metrics.Metrics, metrics.Scrape) {
	t.Helper()
	m := metrics.New(metrics.Config{Events: []string{"joinRoom"}, RefusalReasons: []string{"no_token"}})
	m.Watch(metrics.Sources{
		Conns: func() []engineio.ConnCount {
			return []engineio.ConnCount{{Transport: "websocket", Protocol: 4, Conns: 2}}
		},
		Namespaces: func() []socketio.NamespaceCount {
			return []socketio.NamespaceCount{{Namespace: "/", Sockets: 2, Rooms: 1}}
		},
		RawConns: func() int { return 1 },
		Limits:   func() []limits.Count { return []limits.Count{{Limit: "engineio.payload_bytes", Hits: 3}} },
		RelayLag: func(context.Context) (time.Duration, error) { return 1500 * time.Millisecond, nil },
	})
	m.HTTP().Request("/healthz", "GET", 200, time.Millisecond)
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	s, err := metrics.Get(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

func TestLabelsStayBounded(t *testing.T) {
	m := metrics.New(metrics.Config{Events: []string{"joinRoom"}, RefusalReasons: []string{"no_token"}})
	o := m.SocketIO()
	o.EventReceived("joinRoom")
	o.EventReceived("a-name-a-client-made-up")
	o.EventsSent("", 5) // a packet whose name could not be read
	o.ConnectRefused("no_token")
	o.ConnectRefused("something new")
	e := m.Engine()
	e.HandshakeRefused("not a reason")
	e.Closed(engineio.ReasonQueueOverflow)
	m.HTTP().Request("/x", "BREW", 418, time.Millisecond)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	s, err := metrics.Get(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"eventide_socketio_events_received_total", []string{"event", "joinRoom"}, 1},
		{"eventide_socketio_events_received_total", []string{"event", "other"}, 1},
		{"eventide_socketio_events_sent_total", []string{"event", "other"}, 5},
		{"eventide_socketio_connect_refusals_total", []string{"reason", "no_token"}, 1},
		{"eventide_socketio_connect_refusals_total", []string{"reason", "other"}, 1},
		{"eventide_engineio_handshake_refusals_total", nil, 0},
		{"eventide_engineio_disconnects_total", []string{"reason", "send_queue_overflow"}, 1},
		{"eventide_http_requests_total", []string{"method", "other", "code", "418"}, 1},
	} {
		if got, _ := s.Value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if strings.Contains(s.String(), "made-up") || strings.Contains(s.String(), "something new") {
		t.Errorf("a client's value became a label:\n%s", s)
	}
}

func TestRegistryIsPerServer(t *testing.T) {
	a := metrics.New(metrics.Config{})
	b := metrics.New(metrics.Config{}) // a global registry would panic here
	a.Relay().Published()
	fa, _ := a.Registry().Gather()
	fb, _ := b.Registry().Gather()
	if len(fa) == 0 || len(fa) != len(fb) {
		t.Fatalf("families: %d and %d", len(fa), len(fb))
	}
}

var (
	docRowRE   = regexp.MustCompile("(?m)^\\| `(eventide_[a-z_]+)` \\| (counter|gauge|histogram) \\|")
	exprNameRE = regexp.MustCompile(`\b((?:eventide|go|process)_[a-z_]+)\b`)
)

// familyTypes maps each family of the scrape to its type.
func familyTypes(s metrics.Scrape) map[string]string {
	out := map[string]string{}
	for name, f := range s {
		out[name] = strings.ToLower(f.GetType().String())
	}
	return out
}

// TestOperationsDocListsEveryMetric keeps docs/operations.md's table and
// the registered metrics in step, with their types.
func TestOperationsDocListsEveryMetric(t *testing.T) {
	_, s := full(t)
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]string{}
	for _, m := range docRowRE.FindAllStringSubmatch(string(b), -1) {
		doc[m[1]] = m[2]
	}
	types := familyTypes(s)
	var registered []string
	for name, typ := range types {
		if !strings.HasPrefix(name, "eventide_") {
			continue
		}
		registered = append(registered, name)
		if doc[name] == "" {
			t.Errorf("%s (%s) is registered but not in docs/operations.md's Metrics table", name, typ)
		} else if doc[name] != typ {
			t.Errorf("%s is a %s, the doc says %s", name, typ, doc[name])
		}
	}
	for name := range doc {
		if types[name] == "" {
			t.Errorf("docs/operations.md lists %s, which is not registered", name)
		}
	}
	sort.Strings(registered)
	if len(registered) < 20 {
		t.Errorf("only %d eventide metrics: %v", len(registered), registered)
	}
}

// TestGrafanaDashboard: docs/grafana/eventide.json is valid JSON whose
// queries name only metrics that exist.
func TestGrafanaDashboard(t *testing.T) {
	_, s := full(t)
	b, err := os.ReadFile("../../docs/grafana/eventide.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("docs/grafana/eventide.json: %v", err)
	}
	types := familyTypes(s)
	queries := 0
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			for _, m := range exprNameRE.FindAllStringSubmatch(tg.Expr, -1) {
				name := m[1]
				if types[name] != "" {
					continue
				}
				base := name
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					base = strings.TrimSuffix(base, suffix)
				}
				if types[base] != "histogram" {
					t.Errorf("panel %q queries %s, which is not a metric (%q)", p.Title, name, tg.Expr)
				}
			}
		}
	}
	if queries < 20 {
		t.Errorf("only %d queries", queries)
	}
}
