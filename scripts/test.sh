#!/usr/bin/env bash
# Runs every test of tlsgate: installs what the tests need (Debian packages
# when run as root, Go tools through the module proxy), then vet, staticcheck
# and the whole Go test suite with the race detector, integration tests
# included (they start real curl, openssl, Flask and Uvicorn peers), then
# the integration tests again on server.engine: std.
#
#   ./scripts/test.sh            everything
#   ./scripts/test.sh -short     skip the slow integration tests
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests start as real peers.
packages=(ca-certificates curl openssl python3 python3-flask python3-fastapi python3-uvicorn chromium libnss3-tools etcd-server etcd-client python3-requests bind9 bind9-utils bind9-dnsutils apache2-utils goaccess systemd python3-venv nghttp2-client man-db)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing Debian packages; install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

export PATH="$(go env GOPATH)/bin:$PATH"
if ! command -v staticcheck >/dev/null; then
  echo "installing staticcheck"
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

# Pebble with ARI and profiles, for the ACME tests (Debian's 2.4 has neither).
gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/pebble" ] || [ ! -x "$gobin/pebble-challtestsrv" ]; then
  echo "installing pebble v2.10.1"
  (cd / && go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1 \
    github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@v2.10.1)
fi

# h2spec, the HTTP/2 conformance suite, for TestH2Spec.
if [ ! -x "$gobin/h2spec" ]; then
  echo "installing h2spec v2.2.1"
  (cd / && go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible)
fi

echo "== go vet"
go vet ./...
echo "== staticcheck"
staticcheck ./...
echo "== go test"
go test -race -count=1 -timeout 15m "$@" ./...
# The end-to-end tests once more on net/http's server, the fallback (the run
# above uses the default, server.engine: tlsgate): every one must pass on both.
echo "== go test ./test/integration/ with TLSGATE_ENGINE=std"
TLSGATE_ENGINE=std go test -race -count=1 -timeout 15m "$@" ./test/integration/
