// Package doctor holds end-to-end tests of `tlsgate doctor`: each test
// starts a real server with one defect (a Go crypto/tls server, tlsgate
// itself, or openssl s_server), runs the built binary against it and checks
// that the report names the problem, shows the facts and exits right.
//
// Run with: go test ./test/doctor/ (set TLSGATE_BIN to test a prebuilt
// binary). openssl must be installed; under -short the openssl cases skip.
package doctor
