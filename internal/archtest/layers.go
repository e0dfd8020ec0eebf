// Package archtest holds the import layers of docs/ARCHITECTURE.md as data,
// and a test (arch_test.go) that fails when a package imports one it must
// not. It has no code for programs.
package archtest

// module is the import path prefix of tlsgate's own packages.
const module = "github.com/tlsgate/tlsgate/"

// layers puts each package (path below the module) on a layer. A package
// may import packages on lower layers only: never one above, never a peer.
var layers = map[string]int{
	"cmd/tlsgate":     5,
	"internal/cli":    4,
	"internal/server": 3,

	"internal/serve": 1,

	"internal/admin": 2,
	"internal/route": 2,
	"internal/edge":  2,
	"internal/proxy": 2,

	"internal/certs":   1,
	"internal/storage": 1,
	"internal/doctor":  1,
	"internal/ech":     1,

	"internal/config":     0,
	"internal/pki":        0,
	"internal/truststore": 0,
	"internal/dns":        0,
	"internal/zapslog":    0,
	"internal/urlpath":    0,
	"internal/answer":     0,
	"internal/events":     0,
	"internal/serve/h1":   0,
	"internal/serve/h2":   0,
}

// unlistedMax is the highest layer a package not in layers may import: one
// being added may use libraries and handlers but not the running instance
// or the command line.
const unlistedMax = 2

// testOnly are packages for tests: only test helpers (packages whose name
// ends in "test", and test/...) may import them.
var testOnly = []string{"internal/testproc", "internal/storage/storagetest"}
