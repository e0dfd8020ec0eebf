#!/usr/bin/env bash
# Builds tlsgate's release artifacts into dist/: one static binary per
# target (-trimpath, CGO_ENABLED=0, the `git describe` version stamped into
# `tlsgate version`), the .deb and the Python wheels, and dist/SHA256SUMS.
#
#   ./scripts/package.sh                       every target, .deb and wheels
#   ./scripts/package.sh --targets linux/amd64 only these targets (comma-separated)
#   ./scripts/package.sh --binaries-only       no .deb, no wheels
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets="linux/amd64,linux/arm64,darwin/arm64,windows/amd64"
targets="$all_targets"
binaries_only=0
while (($#)); do
  case "$1" in
    --targets) targets="$2"; shift 2 ;;
    --binaries-only) binaries_only=1; shift ;;
    *) echo "package.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

version="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"
echo "tlsgate $version"
rm -rf dist
mkdir -p dist

ldflags="-s -w -X github.com/tlsgate/tlsgate/internal/cli.stampedVersion=$version"
IFS=, read -ra tlist <<<"$targets"
for t in "${tlist[@]}"; do
  goos="${t%/*}" goarch="${t#*/}"
  ext=""
  [ "$goos" = windows ] && ext=".exe"
  out="dist/tlsgate_${version}_${goos}_${goarch}${ext}"
  echo "== build $t -> $out"
  CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" \
    go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out" ./cmd/tlsgate
done

if ((!binaries_only)); then
  for t in "${tlist[@]}"; do
    case "$t" in
      linux/*)
        [ -x packaging/deb.sh ] && packaging/deb.sh "$version" "${t#*/}" ;;
    esac
    [ -f packaging/wheel.py ] && python3 packaging/wheel.py --version "$version" --target "$t" --dist dist
  done
fi

(cd dist && sha256sum -- * | grep -v ' SHA256SUMS$' >SHA256SUMS)
echo "== dist/"
ls -l dist
