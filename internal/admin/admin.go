// Package admin serves tlsgate's admin API: status, reload, certificates,
// renewal, recent events, Prometheus metrics and a dashboard page at /. It is plain HTTP meant for loopback or a
// unix socket; the config refuses any other address.
package admin

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	promcollectors "github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tlsgate/tlsgate/internal/certs"
	"github.com/tlsgate/tlsgate/internal/events"
)

// Backend is what the admin API needs from a running instance.
type Backend interface {
	// Status describes the instance for GET /status.
	Status() Status
	// Reload re-reads the config file and swaps it in, or returns why not.
	Reload(ctx context.Context) error
	// Certificates lists the certificates the instance serves or manages.
	Certificates(ctx context.Context) ([]certs.CertInfo, error)
	// Renew renews one managed certificate and returns the one in service.
	Renew(ctx context.Context, name string, force bool) (certs.CertInfo, error)
	// Events returns the recent events, newest first.
	Events() []events.Event
	// Emitter takes the test alert POST /events/test asks for.
	Emitter() events.Emitter
}

// Handler returns the admin API for b, with version reported in /metrics
// beside the instance's own collectors (request metrics).
func Handler(b Backend, version string, collectors ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	// The runtime's and the process's own families (go_goroutines,
	// process_resident_memory_bytes, open fds...): what shows a client
	// holding more than it should.
	reg.MustRegister(promcollectors.NewGoCollector(), promcollectors.NewProcessCollector(promcollectors.ProcessCollectorOpts{}))
	reg.MustRegister(&certCollector{list: b.Certificates})
	reg.MustRegister(collectors...)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "tlsgate_build_info",
		Help:        "Always 1; the version label says which tlsgate runs.",
		ConstLabels: prometheus.Labels{"version": version},
	}, func() float64 { return 1 }))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveDashboard)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.Status())
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		if err := b.Reload(r.Context()); err != nil {
			// The error is about the user's own config file, written for
			// them to read: it is the answer, not an internal detail.
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
	})
	mux.HandleFunc("GET /certs", func(w http.ResponseWriter, r *http.Request) {
		list, err := b.Certificates(r.Context())
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		if list == nil {
			list = []certs.CertInfo{}
		}
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("POST /renew", func(w http.ResponseWriter, r *http.Request) {
		name := strings.ToLower(r.URL.Query().Get("name"))
		if name == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "name is required: POST /renew?name=NAME[&force=1]"})
			return
		}
		force := r.URL.Query().Get("force")
		info, err := b.Renew(r.Context(), name, force == "1" || force == "true")
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.Events())
	})
	mux.HandleFunc("POST /events/test", func(w http.ResponseWriter, r *http.Request) {
		host, _ := os.Hostname()
		b.Emitter().Emit(events.Event{Event: events.AlertTest, Name: host,
			Detail: map[string]any{"note": "sent by tlsgate events --test"}})
		writeJSON(w, http.StatusOK, map[string]string{"status": "sent"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return localOnly(mux)
}

// localOnly refuses what a web page could send: listening on loopback does
// not stop a browser on this machine from POSTing to it (a form on any
// site), nor a DNS-rebinding page from reading it under another name. The
// CLI, curl and Prometheus send no Origin and a loopback Host.
func localOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "the admin API does not answer web pages (a request with an Origin header)"})
			return
		}
		if !loopbackHost(r.Host) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "the admin API answers only requests addressed to localhost, a loopback IP, or its unix socket"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" || host == "unix" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
