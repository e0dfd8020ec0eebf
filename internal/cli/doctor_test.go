package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
)

// TestDoctorExitCodes runs doctor through Run: problems exit 1 with the
// report on stdout and nothing more on stderr; bad usage exits 2.
func TestDoctorExitCodes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderrWant string
	}{
		{"closed port", []string{"doctor", "https://" + closed + "/"}, exitFailure, "connection_refused", ""},
		{"json", []string{"doctor", "--json", "https://" + closed + "/"}, exitFailure, `"healthy": false`, ""},
		{"no URL", []string{"doctor"}, exitUsage, "", "give a URL"},
		{"not a URL", []string{"doctor", "ftp://x/"}, exitUsage, "", "is not a URL"},
		{"key without cert", []string{"doctor", "--client-key", "k.pem", "https://" + closed + "/"}, exitUsage, "", "--client-key needs --client-cert"},
		{"missing cacert", []string{"doctor", "--cacert", "/nonexistent.pem", "https://" + closed + "/"}, exitUsage, "", "--cacert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			t.Setenv("HOME", t.TempDir())
			code := Run(context.Background(), tt.args, strings.NewReader(""), &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d; want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, out.String())
			}
			if tt.stderrWant == "" && errb.Len() > 0 {
				t.Errorf("stderr should be empty (the report says it all), got %q", errb.String())
			}
			if !strings.Contains(errb.String(), tt.stderrWant) {
				t.Errorf("stderr lacks %q: %q", tt.stderrWant, errb.String())
			}
		})
	}
}

func TestDoctorJSONShape(t *testing.T) {
	var out bytes.Buffer
	t.Setenv("HOME", t.TempDir())
	Run(context.Background(), []string{"doctor", "--json", "https://127.0.0.1:1/"}, strings.NewReader(""), &out, &bytes.Buffer{})
	var rep map[string]any
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	for _, k := range []string{"url", "address", "clock", "chain", "findings", "errors", "warnings", "healthy", "verdict"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	f := rep["findings"].([]any)[0].(map[string]any)
	for _, k := range []string{"code", "severity", "summary", "facts", "fix"} {
		if _, ok := f[k]; !ok {
			t.Errorf("finding lacks %q: %v", k, fmt.Sprint(f))
		}
	}
}
