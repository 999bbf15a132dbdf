package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventide/realtime/internal/socketio"
)

var _ socketio.Observer = (*socketObserver)(nil)

// fanoutBuckets are those of the broadcast fan-out latency: 10 µs to
// about 2.6 s, by 4.
func fanoutBuckets() []float64 { return prometheus.ExponentialBuckets(10e-6, 4, 10) }

// ioBuckets are those of the store and broker latencies: 100 µs to about
// 6.6 s, by 4.
func ioBuckets() []float64 { return prometheus.ExponentialBuckets(100e-6, 4, 9) }

// socketObserver counts what socketio tells it. Every child is resolved
// at construction: an observation is a map read and an atomic add.
type socketObserver struct {
	refusals   map[string]prometheus.Counter
	eventsIn   map[string]prometheus.Counter
	eventsOut  map[string]prometheus.Counter
	fanout     prometheus.Histogram
	recipients prometheus.Counter
	publish    prometheus.Histogram
	pubErrors  prometheus.Counter
	attempted  prometheus.Counter
	recovered  prometheus.Counter
}

func newSocketObserver(reg prometheus.Registerer, events, reasons []string) *socketObserver {
	refusals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventide_socketio_connect_refusals_total",
		Help: "Socket.IO CONNECTs answered with connect_error, by reason.",
	}, []string{"reason"})
	in := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventide_socketio_events_received_total",
		Help: "Socket.IO events received from clients, by event name (the contract's; \"other\" for any other).",
	}, []string{"event"})
	out := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "eventide_socketio_events_sent_total",
		Help: "Socket.IO events handed to client connections, one per recipient, by event name (the contract's; \"other\" for any other).",
	}, []string{"event"})
	o := &socketObserver{
		refusals: known(append([]string{socketio.RefusedInvalidNamespace, socketio.RefusedConnectTooLarge, socketio.RefusedMiddleware}, reasons...),
			func(n string) prometheus.Counter { return refusals.WithLabelValues(n) }),
		eventsIn:  known(events, func(n string) prometheus.Counter { return in.WithLabelValues(n) }),
		eventsOut: known(events, func(n string) prometheus.Counter { return out.WithLabelValues(n) }),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eventide_socketio_broadcast_duration_seconds",
			Help:    "Time a broadcast with recipients on this node takes to hand them its packet (the fan-out: queued, and written inline for small rooms).",
			Buckets: fanoutBuckets(),
		}),
		recipients: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventide_socketio_broadcast_recipients_total",
			Help: "Sockets reached by broadcasts on this node.",
		}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eventide_broker_publish_duration_seconds",
			Help:    "Time the broker (memory or Redis) takes to accept a broadcast for the other nodes.",
			Buckets: ioBuckets(),
		}),
		pubErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventide_broker_publish_errors_total",
			Help: "Broadcasts the broker refused (Redis unreachable): delivered nowhere, retried by the relay.",
		}),
		attempted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventide_socketio_recoveries_attempted_total",
			Help: "Connection-state recoveries clients asked for.",
		}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventide_socketio_recoveries_succeeded_total",
			Help: "Connection-state recoveries that succeeded (the client got its missed packets and kept its id and rooms).",
		}),
	}
	reg.MustRegister(refusals, in, out, o.fanout, o.recipients, o.publish, o.pubErrors, o.attempted, o.recovered)
	return o
}

// ConnectRefused implements socketio.Observer.
func (o *socketObserver) ConnectRefused(reason string) { count(o.refusals, reason, 1) }

// EventReceived implements socketio.Observer.
func (o *socketObserver) EventReceived(event string) { count(o.eventsIn, event, 1) }

// EventsSent implements socketio.Observer.
func (o *socketObserver) EventsSent(event string, n int) {
	if n > 0 {
		count(o.eventsOut, event, float64(n))
	}
}

// Broadcast implements socketio.Observer.
func (o *socketObserver) Broadcast(recipients int, took time.Duration) {
	o.fanout.Observe(took.Seconds())
	o.recipients.Add(float64(recipients))
}

// BrokerPublished implements socketio.Observer.
func (o *socketObserver) BrokerPublished(took time.Duration, err error) {
	o.publish.Observe(took.Seconds())
	if err != nil {
		o.pubErrors.Inc()
	}
}

// RecoveryAttempted implements socketio.Observer.
func (o *socketObserver) RecoveryAttempted() { o.attempted.Inc() }

// RecoverySucceeded implements socketio.Observer.
func (o *socketObserver) RecoverySucceeded() { o.recovered.Inc() }

// SocketIO returns the socketio.Observer to put in socketio.Config.Observer.
func (m *Metrics) SocketIO() socketio.Observer { return m.sio }
