package accesslog

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the request metrics. Labels are config names only (site: its
// first host; route: its path), so their number is bounded by the config.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	dropped  prometheus.Counter
	// ConnsOpen are the open client connections by listener (https, http).
	ConnsOpen *prometheus.GaugeVec
	// Handshakes count finished TLS handshakes by site, version and result.
	Handshakes *prometheus.CounterVec
}

// NewMetrics makes the collectors; register them with Collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tlsgate_http_requests_total",
			Help: "HTTPS requests answered, by site, route and status code.",
		}, []string{"site", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tlsgate_http_request_duration_seconds",
			Help:    "Time from request headers read to the answer's end, by site and route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"site", "route"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tlsgate_access_log_dropped_total",
			Help: "Access log lines dropped because the writer's queue was full.",
		}),
		ConnsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tlsgate_connections_open",
			Help: "Client connections open, by listener.",
		}, []string{"listener"}),
		Handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tlsgate_tls_handshakes_total",
			Help: "TLS handshakes by site (SNI's site, or unknown), protocol version and result (ok, failed), counted when the connection closes.",
		}, []string{"site", "version", "result"}),
	}
}

// Collectors are the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.dropped, m.ConnsOpen, m.Handshakes}
}

// Dropped counts one dropped log line.
func (m *Metrics) Dropped() { m.dropped.Inc() }

func (m *Metrics) observe(r *Record) {
	route := r.Route
	if route == "" {
		route = "none"
	}
	m.requests.WithLabelValues(r.Site, route, codeLabel(r.Status)).Inc()
	m.duration.WithLabelValues(r.Site, route).Observe(r.Duration.Seconds())
}

// codeLabel keeps the code label to real status codes.
func codeLabel(c int) string {
	if c < 100 || c > 999 {
		return "other"
	}
	return string([]byte{byte('0' + c/100), byte('0' + c/10%10), byte('0' + c%10)})
}
