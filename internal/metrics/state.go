package metrics

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventide/realtime/internal/engineio"
	"github.com/eventide/realtime/internal/limits"
	"github.com/eventide/realtime/internal/socketio"
)

// Sources are the server's parts whose state a scrape reads (gauges and
// the limit counts): read when Prometheus asks, never kept up to date on
// the hot paths. A nil field is left out.
type Sources struct {
	// Conns: engineio.Server.ConnCounts.
	Conns func() []engineio.ConnCount
	// Namespaces: socketio.Server.NamespaceCounts.
	Namespaces func() []socketio.NamespaceCount
	// RawConns: rawws.Service.Count (the plain WebSocket's clients).
	RawConns func() int
	// Limits: limits.Reporter.Counts.
	Limits func() []limits.Count
	// RelayLag: relay.Relay.Lag (one query of the event log per scrape).
	RelayLag func(ctx context.Context) (time.Duration, error)
	// RelayLagTimeout bounds that query; default 2s.
	RelayLagTimeout time.Duration
}

// stateCollector reads Sources at each scrape.
type stateCollector struct {
	src Sources
	log *slog.Logger

	conns, sockets, rooms, raw, limits, lag *prometheus.Desc
}

// Watch registers what a scrape reads of the server. Call it once, when
// the parts exist.
func (m *Metrics) Watch(src Sources) {
	if src.RelayLagTimeout <= 0 {
		src.RelayLagTimeout = 2 * time.Second
	}
	m.reg.MustRegister(&stateCollector{
		src: src, log: m.log,
		conns: prometheus.NewDesc("eventide_engineio_connections",
			"Open Engine.IO sessions, by transport and protocol version.", []string{"transport", "protocol"}, nil),
		sockets: prometheus.NewDesc("eventide_socketio_sockets",
			"Connected Socket.IO sockets on this node, by namespace.", []string{"namespace"}, nil),
		rooms: prometheus.NewDesc("eventide_socketio_rooms",
			"Rooms with at least one socket on this node (not the sockets' own rooms), by namespace.", []string{"namespace"}, nil),
		raw: prometheus.NewDesc("eventide_rawws_connections",
			"Open plain WebSocket connections (/ws and --raw-addr: the attendance clients).", nil, nil),
		limits: prometheus.NewDesc("eventide_limit_hits_total",
			"Times clients reached a limit (the hardening limits and the rate limits), by limit name.", []string{"limit"}, nil),
		lag: prometheus.NewDesc("eventide_relay_lag_seconds",
			"Age of the oldest committed change not yet published to the sockets (0 when the relay is caught up).", nil, nil),
	})
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.conns
	ch <- c.sockets
	ch <- c.rooms
	ch <- c.raw
	ch <- c.limits
	ch <- c.lag
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.src.Conns != nil {
		for _, n := range c.src.Conns() {
			ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(n.Conns), n.Transport, strconv.Itoa(n.Protocol))
		}
	}
	if c.src.Namespaces != nil {
		for _, n := range c.src.Namespaces() {
			ch <- prometheus.MustNewConstMetric(c.sockets, prometheus.GaugeValue, float64(n.Sockets), n.Namespace)
			ch <- prometheus.MustNewConstMetric(c.rooms, prometheus.GaugeValue, float64(n.Rooms), n.Namespace)
		}
	}
	if c.src.RawConns != nil {
		ch <- prometheus.MustNewConstMetric(c.raw, prometheus.GaugeValue, float64(c.src.RawConns()))
	}
	if c.src.Limits != nil {
		for _, n := range c.src.Limits() {
			ch <- prometheus.MustNewConstMetric(c.limits, prometheus.CounterValue, float64(n.Hits), n.Limit)
		}
	}
	if c.src.RelayLag != nil {
		ctx, cancel := context.WithTimeout(context.Background(), c.src.RelayLagTimeout)
		lag, err := c.src.RelayLag(ctx)
		cancel()
		if err != nil {
			c.log.Warn("metrics: read the relay lag", "err", err)
			ch <- prometheus.NewInvalidMetric(c.lag, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, lag.Seconds())
	}
}
