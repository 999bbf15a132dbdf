package metrics

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Other is the label value of an event name, a refusal reason or an HTTP
// method outside the known set: labels stay bounded whatever clients send.
const Other = "other"

// Config says which label values are known. Anything else is counted
// under Other.
type Config struct {
	// Events are the contract's event names (realtime.EventNames).
	Events []string
	// RefusalReasons are the reasons middleware refuses a CONNECT with,
	// besides socketio's own (realtime.RefusalReasons).
	RefusalReasons []string
	// Logger receives the errors of a scrape; nil discards them.
	Logger *slog.Logger
}

// Metrics is one server's registry and the observers that feed it. Create
// it with New; its observer methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	log *slog.Logger

	engine  *engineObserver
	sio     *socketObserver
	http    *httpObserver
	relay   *relayObserver
	storeOb *storeObserver
}

// New returns a Metrics with a registry of its own (never the global
// default one) holding the Go runtime and process collectors and every
// eventide metric; the snapshots of state (connections, namespaces,
// limits, relay lag) are added by Watch.
func New(cfg Config) *Metrics {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m := &Metrics{reg: reg, log: log}
	m.engine = newEngineObserver(reg)
	m.sio = newSocketObserver(reg, cfg.Events, cfg.RefusalReasons)
	m.http = newHTTPObserver(reg)
	m.relay = newRelayObserver(reg)
	m.storeOb = newStoreObserver(reg)
	return m
}

// Registry returns the registry (for tests, and for Gather).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format, for /metrics
// on the admin listener.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slogPrinter{m.log},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg, // promhttp_metric_handler_errors_total
	})
}

// slogPrinter is promhttp's error log on slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	parts := make([]string, 0, len(v))
	for _, x := range v {
		if s, ok := x.(string); ok {
			parts = append(parts, s)
		} else if e, ok := x.(error); ok {
			parts = append(parts, e.Error())
		}
	}
	p.log.Warn("metrics scrape", "err", strings.Join(parts, " "))
}

// known maps each name to a counter made by mk, plus Other: the children
// are resolved once, so counting is a map read and an atomic add.
func known(names []string, mk func(name string) prometheus.Counter) map[string]prometheus.Counter {
	out := make(map[string]prometheus.Counter, len(names)+1)
	for _, n := range names {
		out[n] = mk(n)
	}
	out[Other] = mk(Other)
	return out
}

// count adds n to the counter of name, or of Other.
func count(m map[string]prometheus.Counter, name string, n float64) {
	c, ok := m[name]
	if !ok {
		c = m[Other]
	}
	c.Add(n)
}
