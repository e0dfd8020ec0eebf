// Package admin serves tlsgate's admin API: status and reload now, with
// certificates and metrics to follow. It is plain HTTP meant for loopback or
// a unix socket; the config refuses any other address.
package admin

import (
	"context"
	"encoding/json"
	"net/http"
)

// Backend is what the admin API needs from a running instance.
type Backend interface {
	// Status describes the instance; it is encoded as JSON.
	Status() any
	// Reload re-reads the config file and swaps it in, or returns why not.
	Reload(ctx context.Context) error
}

// Handler returns the admin API for b.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.Status())
	})
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		if err := b.Reload(r.Context()); err != nil {
			// The error is about the user's own config file, written for
			// them to read: it is the answer, not an internal detail.
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
