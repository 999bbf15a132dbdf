package metrics

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventide/realtime/internal/engineio"
)

var _ engineio.Observer = (*engineObserver)(nil)

// engineObserver counts what engineio tells it.
type engineObserver struct {
	handshakes map[string]prometheus.Counter // by transport+protocol key
	refusals   map[string]prometheus.Counter
	closes     map[string]prometheus.Counter
	drops      prometheus.Counter
	polling    prometheus.Counter
	websocket  prometheus.Counter
}

func newEngineObserver(reg prometheus.Registerer) *engineObserver {
	handshakes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventide_engineio_handshakes_total",
		Help: "Engine.IO sessions opened, by transport and protocol version (3: socket.io-client 2.x, 4: 3.x and 4.x).",
	}, []string{"transport", "protocol"})
	refusals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventide_engineio_handshake_refusals_total",
		Help: "Engine.IO handshakes answered with an error, by reason.",
	}, []string{"reason"})
	closes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventide_engineio_disconnects_total",
		Help: "Engine.IO sessions ended, by reason; reason=\"send_queue_overflow\" counts the slow clients disconnected.",
	}, []string{"reason"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventide_engineio_written_bytes_total",
		Help: "Bytes handed to client sockets (WebSocket frames with their headers, poll response bodies), by transport.",
	}, []string{"transport"})
	o := &engineObserver{
		handshakes: map[string]prometheus.Counter{},
		refusals:   map[string]prometheus.Counter{},
		closes:     map[string]prometheus.Counter{},
		drops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventide_engineio_send_queue_dropped_messages_total",
			Help: "Messages refused because a connection's send queue was full (the connection is then disconnected).",
		}),
		polling:   bytes.WithLabelValues("polling"),
		websocket: bytes.WithLabelValues("websocket"),
	}
	for _, t := range engineio.Transports() {
		for _, p := range []int{3, 4} {
			o.handshakes[t+strconv.Itoa(p)] = handshakes.WithLabelValues(t, strconv.Itoa(p))
		}
	}
	for _, r := range engineio.RefusalReasons() {
		o.refusals[r] = refusals.WithLabelValues(r)
	}
	for _, r := range engineio.CloseReasons() {
		o.closes[r] = closes.WithLabelValues(label(r))
	}
	reg.MustRegister(handshakes, refusals, closes, bytes, o.drops)
	return o
}

// label turns a close reason ("send queue overflow") into a label value
// ("send_queue_overflow").
func label(reason string) string { return strings.ReplaceAll(reason, " ", "_") }

// Handshake implements engineio.Observer.
func (o *engineObserver) Handshake(transport string, proto int) {
	key := transport + "4"
	if proto == 3 {
		key = transport + "3"
	}
	if c := o.handshakes[key]; c != nil {
		c.Inc()
	}
}

// HandshakeRefused implements engineio.Observer.
func (o *engineObserver) HandshakeRefused(reason string) {
	if c := o.refusals[reason]; c != nil {
		c.Inc()
	}
}

// Closed implements engineio.Observer.
func (o *engineObserver) Closed(reason string) {
	if c := o.closes[reason]; c != nil {
		c.Inc()
	}
}

// QueueDropped implements engineio.Observer.
func (o *engineObserver) QueueDropped(n int) { o.drops.Add(float64(n)) }

// BytesWritten implements engineio.Observer.
func (o *engineObserver) BytesWritten(transport string, n int) {
	if transport == "polling" {
		o.polling.Add(float64(n))
		return
	}
	o.websocket.Add(float64(n))
}

// Engine returns the engineio.Observer to put in engineio.Config.Observer.
func (m *Metrics) Engine() engineio.Observer { return m.engine }
