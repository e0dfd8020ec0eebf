# tlsgate's container image. Not built or tested by this repository's CI
# (the test machine has no container runtime); docs/INSTALL.md says how to
# build and run it.
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t tlsgate .
#   docker run -p 80:80 -p 443:443 -p 443:443/udp \
#     -v "$PWD/tlsgate.yaml:/etc/tlsgate/tlsgate.yaml:ro" -v tlsgate-data:/data tlsgate

# Build: a static binary (no cgo), as scripts/package.sh builds it.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/tlsgate/tlsgate/internal/cli.stampedVersion=${VERSION}" \
      -o /out/tlsgate ./cmd/tlsgate && \
    mkdir -p /out/data

# Run: distroless static has CA certificates and tzdata and nothing else
# (no shell); its nonroot user is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tlsgate /usr/bin/tlsgate
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# Certificates, keys, the local CA and the ACME account live in
# /data/tlsgate ($XDG_DATA_HOME/tlsgate); keep them in a volume.
ENV XDG_DATA_HOME=/data TLSGATE_CONFIG=/etc/tlsgate/tlsgate.yaml
VOLUME ["/data"]
# Docker (20.10 and later) lets a non-root process bind ports below 1024
# inside the container (net.ipv4.ip_unprivileged_port_start=0).
EXPOSE 80 443 443/udp
ENTRYPOINT ["/usr/bin/tlsgate"]
CMD ["run"]
