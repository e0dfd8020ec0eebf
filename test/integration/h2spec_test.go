package integration

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// h2specVersion is the h2spec scripts/test.sh installs.
const h2specVersion = "v2.2.1+incompatible"

// TestH2Spec runs h2spec, the HTTP/2 conformance suite, against tlsgate
// and against Go's own net/http server on the same run, at the same time,
// and requires tlsgate to pass at least as many cases. Cases are timing
// sensitive on a loaded machine (h2spec waits -o seconds for each
// answer) or racy, so a case one side fails and the other passes is run
// again on both; a real difference fails every time. docs/EDGE.md records
// the counts.
func TestH2Spec(t *testing.T) {
	// Not parallel: h2spec's timeouts are about the servers, not about
	// sharing two cores with the rest of the suite.
	bin := h2specBin(t)
	inst := startTLSGate(t, header+`
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "ok"}
`)
	ref := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	ref.EnableHTTP2 = true
	ref.Config.ErrorLog = log.New(io.Discard, "", 0) // h2spec's protocol errors are the point
	ref.StartTLS()
	t.Cleanup(ref.Close)

	// h2spec connects to 127.0.0.1 without SNI: tlsgate serves its only
	// site, and the :authority no site lists is served too (no SNI to
	// compare it with).
	targets := []struct{ name, addr string }{
		{"tlsgate", inst.HTTPS},
		{"net/http", ref.Listener.Addr().String()},
	}
	// runBoth runs h2spec against both targets at once, so both meet the
	// same load.
	runBoth := func(timeout int, ids []string) []map[string]h2specResult {
		t.Helper()
		res := make([]map[string]h2specResult, len(targets))
		errs := make([]error, len(targets))
		var wg sync.WaitGroup
		for i, tg := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i], errs[i] = runH2Spec(bin, tg.addr, timeout, ids)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("h2spec against %s: %v", targets[i].name, err)
			}
		}
		return res
	}
	results := runBoth(2, nil)

	// Cases where the two disagree run again on both, up to three more
	// times; a case passes if it passed once. Some are races in either
	// server (8.1.2.6: an answer written before the DATA frames that
	// contradict content-length arrive), others timeouts on a busy machine.
	for round := 1; round <= 3; round++ {
		var disputed []string // the sections holding such cases
		for id, r := range results[0] {
			if (r == h2specPassed) != (results[1][id] == h2specPassed) {
				section, _, _ := strings.Cut(id, " ")
				disputed = append(disputed, section)
			}
		}
		if len(disputed) == 0 {
			break
		}
		slices.Sort(disputed)
		disputed = slices.Compact(disputed)
		t.Logf("round %d: run again with -o 4 (they disagree): %v", round, disputed)
		for i, again := range runBoth(4, disputed) {
			for id, r := range again {
				if r == h2specPassed {
					results[i][id] = r
				}
			}
		}
	}

	counts := make([]h2specCounts, len(targets))
	for i, tg := range targets {
		counts[i] = countH2Spec(results[i])
		t.Logf("h2spec %s against %s: %d tests, %d passed, %d skipped, %d failed %v",
			h2specVersion, tg.name, counts[i].total, counts[i].passed, counts[i].skipped, len(counts[i].failed), counts[i].failed)
	}
	if counts[0].passed < counts[1].passed {
		var worse []string
		for _, id := range counts[0].failed {
			if results[1][id] == h2specPassed {
				worse = append(worse, id)
			}
		}
		t.Errorf("tlsgate passes %d h2spec cases, net/http %d; tlsgate fails where net/http passes: %v", counts[0].passed, counts[1].passed, worse)
	}
}

// h2specResult is one case's outcome.
type h2specResult int

const (
	h2specPassed h2specResult = iota
	h2specSkipped
	h2specFailed
)

type h2specCounts struct {
	total, passed, skipped int
	failed                 []string // case ids, sorted
}

func countH2Spec(res map[string]h2specResult) h2specCounts {
	c := h2specCounts{total: len(res)}
	for id, r := range res {
		switch r {
		case h2specPassed:
			c.passed++
		case h2specSkipped:
			c.skipped++
		default:
			c.failed = append(c.failed, id)
		}
	}
	slices.Sort(c.failed)
	return c
}

// runH2Spec runs h2spec over TLS (certificate not checked) against addr
// with a per-case timeout in seconds, all cases or only the sections in
// ids (http2/8.1.2.6), and returns each case's outcome by its package and
// title ("http2/8.1.2.6 Sends a HEADERS frame ...").
func runH2Spec(bin, addr string, timeout int, ids []string) (map[string]h2specResult, error) {
	host, port, _ := strings.Cut(addr, ":")
	dir, err := os.MkdirTemp("", "h2spec")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	report := filepath.Join(dir, "report.xml")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	args := append([]string{"-t", "-k", "-h", host, "-p", port, "-o", strconv.Itoa(timeout), "-j", report}, ids...)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	// h2spec exits 1 when a case fails; the report says which.
	if ctx.Err() != nil {
		return nil, fmt.Errorf("h2spec did not finish: %w\n%s", ctx.Err(), out)
	}
	data, rerr := os.ReadFile(report)
	if rerr != nil {
		return nil, fmt.Errorf("no report (%v): %w\n%s", err, rerr, out)
	}
	return parseH2SpecReport(data)
}

// parseH2SpecReport reads h2spec's JUnit report.
func parseH2SpecReport(data []byte) (map[string]h2specResult, error) {
	var rep struct {
		Suites []struct {
			Package string `xml:"package,attr"`
			Cases   []struct {
				Name    string    `xml:"classname,attr"`
				Skipped *struct{} `xml:"skipped"`
				Failure *struct{} `xml:"failure"`
				Error   *struct{} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("h2spec report: %w", err)
	}
	res := make(map[string]h2specResult)
	for _, s := range rep.Suites {
		for _, c := range s.Cases {
			r := h2specPassed
			switch {
			case c.Failure != nil || c.Error != nil:
				r = h2specFailed
			case c.Skipped != nil:
				r = h2specSkipped
			}
			res[s.Package+" "+c.Name] = r
		}
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("h2spec report lists no cases")
	}
	return res, nil
}

// h2specBin finds h2spec on PATH or in GOPATH/bin.
func h2specBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("h2spec"); err == nil {
		return p
	}
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "h2spec")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "h2spec is not installed: go install github.com/summerwind/h2spec/cmd/h2spec@" + h2specVersion + " (scripts/test.sh does this)"
	if testing.Short() {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}
