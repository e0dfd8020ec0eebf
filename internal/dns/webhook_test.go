package dns

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/libdns/libdns"
)

func TestWebhook(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "bad token\nmore detail", http.StatusUnauthorized)
			return
		}
		var body struct{ FQDN, Value string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		mu.Lock()
		calls = append(calls, r.Method+" "+r.URL.Path+" "+body.FQDN+" "+body.Value)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	rec := []libdns.Record{libdns.TXT{Name: "_acme-challenge.app", Text: "v1"}}
	ctx := context.Background()

	p := &Webhook{URL: srv.URL + "/dns/", Token: "tok"}
	if _, err := p.AppendRecords(ctx, "example.com.", rec); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DeleteRecords(ctx, "example.com.", rec); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"POST /dns/present _acme-challenge.app.example.com. v1",
		"POST /dns/cleanup _acme-challenge.app.example.com. v1",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}

	t.Run("non-2xx", func(t *testing.T) {
		p := &Webhook{URL: srv.URL, Token: "wrong"}
		_, err := p.AppendRecords(ctx, "example.com.", rec)
		if err == nil {
			t.Fatal("no error")
		}
		if want := "401 Unauthorized: bad token"; !strings.Contains(err.Error(), want) {
			t.Errorf("got %q; want it to contain %q", err, want)
		}
		for _, leak := range []string{"more detail", "wrong"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("error %q contains %q (only the body's first line, never the token)", err, leak)
			}
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		p := &Webhook{URL: dead.URL}
		if _, err := p.AppendRecords(ctx, "example.com.", rec); err == nil || !strings.Contains(err.Error(), "webhook: present") {
			t.Errorf("got %v; want a webhook present error", err)
		}
	})
}
