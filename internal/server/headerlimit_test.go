package server

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHeaderBlockSize(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		want    int64
	}{
		// "GET /x HTTP/1.1\r\n" + "Host: a.test\r\n" + "\r\n"
		{"no headers", nil, 17 + 14 + 2},
		{"one header", map[string]string{"X-A": "bc"}, 17 + 14 + 9 + 2},
		{"big", map[string]string{"X-Big": strings.Repeat("a", 5000)}, 17 + 14 + 7 + 5000 + 2 + 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "https://a.test/x", nil)
			r.RequestURI = "/x" // as a server sees it (httptest keeps the absolute form)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			if got := headerBlockSize(r); got != tc.want {
				t.Errorf("got %d; want %d", got, tc.want)
			}
		})
	}
}

func TestHeaderReadLimit(t *testing.T) {
	for limit, want := range map[int64]int{4 << 10: 68 << 10, 1 << 20: 2 << 20} {
		if got := headerReadLimit(limit); got != want {
			t.Errorf("headerReadLimit(%d) = %d; want %d", limit, got, want)
		}
	}
}
