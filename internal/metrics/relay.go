package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventide/realtime/internal/relay"
)

var _ relay.Observer = (*relayObserver)(nil)

type relayObserver struct {
	published prometheus.Counter
	failed    prometheus.Counter
}

func newRelayObserver(reg prometheus.Registerer) *relayObserver {
	o := &relayObserver{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventide_relay_events_published_total",
			Help: "Committed changes the event relay of this process published to the sockets.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventide_relay_publish_errors_total",
			Help: "Changes the relay could not publish (the broker refused them); it retries them.",
		}),
	}
	reg.MustRegister(o.published, o.failed)
	return o
}

// Published implements relay.Observer.
func (o *relayObserver) Published() { o.published.Inc() }

// PublishFailed implements relay.Observer.
func (o *relayObserver) PublishFailed() { o.failed.Inc() }

// Relay returns the relay.Observer to put in relay.Config.Observer.
func (m *Metrics) Relay() relay.Observer { return m.relay }
