// Package integration runs the built tlsgate binary against real peers:
// Go's crypto/tls and net/http, curl, openssl s_client, and Flask and
// FastAPI apps as backends. The tests check the promises in docs/INTERFACE.md
// from the outside, the way a user or a script sees them.
//
// Run with `go test ./test/integration/`. TestMain builds the binary once
// (or uses $TLSGATE_BIN). The Python backends need the Debian packages
// python3-flask, python3-fastapi and python3-uvicorn; without them the
// tests that use them fail with the apt-get command, or skip under -short.
package integration
