package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/tlsgate/tlsgate/internal/proxy"
)

func ExampleNew() {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app got %s, proto %s\n", r.URL.Path, r.Header.Get("X-Forwarded-Proto"))
	}))
	defer app.Close()

	shared := proxy.NewTransport() // one per process, shared by every route
	defer shared.CloseIdleConnections()
	h, err := proxy.New(proxy.Options{
		Upstreams:   []string{app.URL},
		StripPrefix: "/api",
		Transport:   shared,
	})
	if err != nil {
		panic(err)
	}
	front := httptest.NewServer(h)
	defer front.Close()

	resp, err := http.Get(front.URL + "/api/users")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(string(body))
	// Output: app got /users, proto http
}
