package h2

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// netHTTPH2SpecPassed is how many h2spec v2.2.1 cases Go 1.26's net/http
// server passes (test/integration/h2spec_test.go measures it); ours must
// pass at least as many.
const netHTTPH2SpecPassed = 140

// TestH2Spec runs h2spec, the HTTP/2 conformance suite, against a Conn.
func TestH2Spec(t *testing.T) {
	bin, err := exec.LookPath("h2spec")
	if err != nil {
		bin = "/root/go/bin/h2spec"
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("h2spec is not installed (scripts/test.sh installs it)")
		}
	}
	s := startServer(t, &Options{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	})})
	host, port, _ := strings.Cut(s.addr, ":")
	report := filepath.Join(t.TempDir(), "report.xml")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-t", "-k", "-h", host, "-p", port, "-o", "2", "-j", report).CombinedOutput()
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("no h2spec report: %v\n%s", err, out)
	}
	var rep struct {
		Suites []struct {
			Cases []struct {
				Name    string    `xml:"classname,attr"`
				Skipped *struct{} `xml:"skipped"`
				Failure *struct{} `xml:"failure"`
				Error   *struct{} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	total, passed := 0, 0
	var failed []string
	for _, su := range rep.Suites {
		for _, c := range su.Cases {
			total++
			switch {
			case c.Failure != nil || c.Error != nil:
				failed = append(failed, c.Name)
			case c.Skipped == nil:
				passed++
			}
		}
	}
	slices.Sort(failed)
	t.Logf("h2spec: %d cases, %d passed, failed: %v", total, passed, failed)
	if passed < netHTTPH2SpecPassed {
		t.Errorf("h2spec passed %d of %d, net/http passes %d\n%s", passed, total, netHTTPH2SpecPassed, out)
	}
}
