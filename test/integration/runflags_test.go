package integration

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRunFlags checks --env-file feeds ${VAR} in the config and
// --log-format json makes every stderr line a JSON object.
func TestRunFlags(t *testing.T) {
	t.Parallel()
	g := newGateConfig(t)
	env := writeFile(t, g.Dir, "app.env", "GREETING=from env file\n")
	inst := startWith(t, g, header+`
sites:
  - hosts: [a.test]
    tls: local
    routes:
      - path: /
        respond: {status: 200, body: "${GREETING}"}
`, "--env-file", env, "--log-format", "json", "--log-level", "debug")

	status, body := get(t, inst.client(t, inst.rootPool(t), true), inst.url("a.test", "/"))
	if status != 200 || body != "from env file" {
		t.Errorf("got %d %q; want 200 %q from --env-file", status, body, "from env file")
	}
	inst.Stop(t)
	lines := 0
	for _, l := range strings.Split(strings.TrimSpace(inst.Stderr.String()), "\n") {
		if l == "" {
			continue
		}
		lines++
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("--log-format json: stderr line is not JSON: %q", l)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; !ok {
				t.Errorf("--log-format json: line lacks %q: %s", k, l)
			}
		}
	}
	if lines == 0 {
		t.Errorf("--log-format json --log-level debug: nothing logged")
	}
}
