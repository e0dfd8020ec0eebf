package answer

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestText(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Set("Content-Type", "text/html")
	Text(w, http.StatusBadGateway, []byte("502 Bad Gateway\n"))
	if w.Code != http.StatusBadGateway || w.Body.String() != "502 Bad Gateway\n" {
		t.Errorf("got %d %q", w.Code, w.Body.String())
	}
	for k, want := range map[string]string{"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"} {
		if got := w.Header().Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q; want [%q]", k, got, want)
		}
	}
}
