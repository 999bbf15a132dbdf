package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/httpapi"
)

// requestLog is an httpapi.Observer that keeps what it is told.
type requestLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *requestLog) Request(route, method string, status int, _ time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, method+" "+route+" "+http.StatusText(status))
}

func (l *requestLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}

// TestObserverSeesRoutePatterns: requests are reported by the route
// table's pattern (never a path with its ids), with their status; Engine.IO
// and /ws requests are not reported here; the public /metrics is a 404 that
// names the admin listener.
func TestObserverSeesRoutePatterns(t *testing.T) {
	log := &requestLog{}
	engine := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	e := newEnv(t, func(_ *httpapi.Config, d *httpapi.Deps) {
		d.Observer = log
		d.SocketIO = engine
		d.RawWS = engine
	})
	e.do(req{method: http.MethodGet, path: "/api/v1/providers/42/slots/7", token: e.token(provider)})
	e.do(req{method: http.MethodGet, path: "/api/v1/providers/42/slots"})
	e.do(req{method: http.MethodGet, path: "/api/v2/nothing", offSpec: true})
	for _, path := range []string{"/socket.io/?EIO=4&transport=polling", "/ws"} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	r := e.do(req{method: http.MethodGet, path: "/metrics", offSpec: true})
	if r.status != http.StatusNotFound || !strings.Contains(string(r.body), "admin listener") {
		t.Errorf("public /metrics: %d %s", r.status, r.body)
	}

	want := []string{
		"GET /api/v1/providers/{providerId}/slots/{slotId} Not Found",
		"GET /api/v1/providers/{providerId}/slots Unauthorized",
		"GET /api/* Not Found",
		"GET /metrics Not Found",
	}
	if got := log.all(); !slices.Equal(got, want) {
		t.Errorf("observed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
