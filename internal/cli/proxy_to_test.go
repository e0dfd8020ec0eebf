package cli

import "testing"

func TestExpandTo(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{":8000", "http://127.0.0.1:8000"},
		{"8000", "http://127.0.0.1:8000"},
		{"localhost:5000", "http://localhost:5000"},
		{"[::1]:8000", "http://[::1]:8000"},
		{"http://127.0.0.1:8000", "http://127.0.0.1:8000"},
		{"h2c://127.0.0.1:50051", "h2c://127.0.0.1:50051"},
		{"unix:/run/app.sock", "unix:/run/app.sock"},
		// Not an address: kept, so the config names what is wrong.
		{"app", "app"},
		{":http", ":http"},
		{"70000", "70000"},
		{"", ""},
	} {
		if got := expandTo(c.in); got != c.want {
			t.Errorf("expandTo(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}
