package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventide/realtime/internal/httpapi"
)

var _ httpapi.Observer = (*httpObserver)(nil)

// httpObserver counts REST requests by chi's route pattern (bounded: the
// route table's), method and status.
type httpObserver struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPObserver(reg prometheus.Registerer) *httpObserver {
	o := &httpObserver{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventide_http_requests_total",
			Help: "HTTP requests answered (not Engine.IO nor the plain WebSocket), by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eventide_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request (not Engine.IO nor the plain WebSocket), by route pattern and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
	}
	reg.MustRegister(o.requests, o.duration)
	return o
}

// Request implements httpapi.Observer.
func (o *httpObserver) Request(route, method string, status int, took time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		method = Other
	}
	o.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	o.duration.WithLabelValues(route, method).Observe(took.Seconds())
}

// HTTP returns the httpapi.Observer to put in httpapi.Deps.Observer.
func (m *Metrics) HTTP() httpapi.Observer { return m.http }
