#!/usr/bin/env bash
# bench/load.sh — load benchmark of tlsgate against nginx, HAProxy and Caddy.
#
#   ./bench/load.sh                  # SUITE=main, ~5 min: the side-by-side
#   SUITE=gzip ./bench/load.sh       # compression of a 64 KiB JSON body
#   SUITE=accesslog ./bench/load.sh  # tlsgate with a JSON access log vs none
# Markdown tables on stdout, progress on stderr.
#
# One run, one machine, one backend (bench/backend). Targets of SUITE=main:
#   backend  the Go backend hit directly over cleartext HTTP/1.1 and h2c:
#            the ceiling this load generator and backend allow, with no TLS
#            and no proxy;
#   tlsgate, nginx, haproxy, caddy
#            each terminating TLS on 127.0.0.1 with the SAME ECDSA P-256
#            certificate and key (made here with openssl; HAProxy reads them
#            as one PEM), h2 and http/1.1 by ALPN, speaking HTTP/1.1 with
#            keep-alive to the same backend (a pool of 256 idle connections;
#            HAProxy: http-reuse always), one worker (GOMAXPROCS=1 /
#            worker_processes 1 / nbthread 1), no access log, the usual
#            X-Forwarded-For/-Proto/-Host and Forwarded headers added.
#   tlsgate-std  the same tlsgate with server.engine: std (net/http's
#            server instead of tlsgate's own engine), for the before/after.
#   floor    bench/floor: the least a Go program spends per proxied
#            HTTP/1.1 request (crypto/tls, raw bytes, no parsing), the floor
#            under tlsgate's h1 figure; h1 only.
# SUITE=gzip targets: tlsgate (compress: true; it picks gzip, the one
# encoding the client accepts), nginx (gzip on, gzip_comp_level 1: nginx's
# default), nginx-gz6 (gzip_comp_level 6), haproxy (compression algo gzip),
# caddy (encode gzip), all asked for GET /text64k (64 KiB of JSON) with
# "Accept-Encoding: gzip". SUITE=accesslog targets: tlsgate (no access log)
# and tlsgate-log (access_log to a file, format ACCESS_LOG or json).
# Every proxy is pinned to core 0 (taskset -c 0) and is measured while the
# others sit idle; the load generators (h2load, bench/newconns,
# bench/idleconns) and the backend share core 1. Needs at least 2 cores.
#
# Figures, per target (SUITE=main: all; gzip and accesslog: h1 and h2 only):
#   h1 req/s, p50, p99 keep-alive HTTP/1.1: h2load --h1, H1_CONNS connections,
#                      one request in flight on each, DURATION seconds. p50
#                      and p99 are computed from h2load's per-request log
#                      (--log-file), since h2load itself prints none.
#   h2 req/s, p50, p99 keep-alive HTTP/2: h2load, H2_CONNS connections x
#                      H2_STREAMS streams (same requests in flight as h1).
#   CPU µs/req         CPU seconds the proxy process (tree) used during the
#                      figure (utime+stime from /proc/PID/stat) / successful
#                      requests x 1e6. The figure that does not depend on
#                      which core was the bottleneck.
#   new TLS conns/s    bench/newconns makes HS_REQUESTS connections, HS_CONNS
#                      at a time: each is a new TCP connection, a FULL TLS 1.3
#                      handshake (X25519, ECDSA P-256 signature; no session
#                      resumption, which h2load would do and which skips the
#                      signature) and one proxied request with "Connection:
#                      close". The bare handshake rate is a little higher.
#   KiB/idle conn      resident memory per idle TLS keep-alive connection:
#                      on a freshly started and warmed-up proxy, VmRSS is read
#                      from /proc/PID/status, bench/idleconns opens IDLE_CONNS
#                      TLS connections, sends one request on each and holds
#                      them idle, VmRSS is read again; (after - before) / N.
#                      Measured for ALPN http/1.1 and for h2 (each on its own
#                      fresh process). For Go programs this includes garbage
#                      not yet collected, as RSS does.
#   CPU %, req/CPU-s   the same CPU time as a share of the wall time, and
#                      successful requests per CPU second. When the proxy is
#                      below ~100%, core 1 (h2load + backend) or other load on
#                      the machine was the limit.
#   bytes/resp (gzip)  bytes h2load received (headers, framing and body, no
#                      TLS overhead) / successful requests; "gzip body B" is
#                      the compressed body of one answer (curl, checked to
#                      decode to the 64 KiB).
# Ratios: every figure of tlsgate divided by the same figure of each peer
# (SUITE=accesslog: tlsgate-log / tlsgate). Above 1 is better for req/s,
# worse for µs, ms, KiB and bytes.
#
# The throughput figures are taken ROUNDS times, the targets taking turns in
# each round, and the median is reported with the range, because a shared
# machine is noisy. Everything is warmed up before it is measured.
#
# Knobs (environment): SUITE=main|gzip|accesslog DURATION=5 ROUNDS=3
# H1_CONNS=64 H2_CONNS=8 H2_STREAMS=8 HS_REQUESTS=8000 HS_CONNS=32
# IDLE_CONNS=5000 (at most 9000: tlsgate's limits.max_connections default is
# 10000) BASE_PORT=19000 TARGETS="..." (a subset of the suite's, in its order)
# ACCESS_LOG=json|combined (SUITE=main: tlsgate writes an access log to a file
# in the work dir, default none; SUITE=accesslog: the format of tlsgate-log).
# TLSGATE_ENV="GOGC=200" adds environment variables for tlsgate only.
# ENGINE=tlsgate|std: tlsgate's server.engine (default: its own default).
# Only loopback addresses are used; every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=${SUITE:-main}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
H1_CONNS=${H1_CONNS:-64}
H2_CONNS=${H2_CONNS:-8}
H2_STREAMS=${H2_STREAMS:-8}
HS_REQUESTS=${HS_REQUESTS:-8000}
HS_CONNS=${HS_CONNS:-32}
IDLE_CONNS=${IDLE_CONNS:-5000}
BASE_PORT=${BASE_PORT:-19000}
TLSGATE_ENV=${TLSGATE_ENV:-}
ENGINE=${ENGINE:-}
ACCESS_LOG=${ACCESS_LOG:-}

# What each suite measures: its targets, the figures (h1, h2, hs = new
# connections; memory = KiB per idle connection), the path asked for, the
# extra request header, and the target the others are compared with.
REQ_PATH=/
REQ_HEADER=()
case $SUITE in
  main)
    SUITE_TARGETS="backend tlsgate tlsgate-std nginx haproxy caddy floor" KINDS="h1 h2 hs" MEMORY=1 REF=tlsgate ;;
  gzip)
    SUITE_TARGETS="tlsgate nginx nginx-gz6 haproxy caddy" KINDS="h1 h2" MEMORY=0 REF=tlsgate
    REQ_PATH=/text64k REQ_HEADER=(-H "Accept-Encoding: gzip") ;;
  accesslog)
    SUITE_TARGETS="tlsgate tlsgate-log" KINDS="h1 h2" MEMORY=0 REF=tlsgate-log ;;
  *) echo "load.sh: unknown SUITE $SUITE (main, gzip or accesslog)" >&2; exit 1 ;;
esac
TARGETS=${TARGETS:-$SUITE_TARGETS}

BACKEND_ADDR=127.0.0.1:$BASE_PORT
declare -A PORT=([backend]=$BASE_PORT [tlsgate]=$((BASE_PORT + 443)) [nginx]=$((BASE_PORT + 444))
  [caddy]=$((BASE_PORT + 445)) [haproxy]=$((BASE_PORT + 446)) [tlsgate-log]=$((BASE_PORT + 447)) [tlsgate-std]=$((BASE_PORT + 450))
  [nginx-gz6]=$((BASE_PORT + 448)) [floor]=$((BASE_PORT + 449)))

log() { echo "== $*" >&2; }
die() { echo "load.sh: $*" >&2; exit 1; }

# program TARGET: the program a target runs (variants share one).
program() { case $1 in tlsgate-log | tlsgate-std) echo tlsgate ;; nginx-gz6) echo nginx ;; *) echo "$1" ;; esac; }

# --- prerequisites -----------------------------------------------------------

install_missing() {
  local -A pkg_for=([nginx]=nginx-light [caddy]=caddy [haproxy]=haproxy [h2load]=nghttp2-client
    [openssl]=openssl [curl]=curl [taskset]=util-linux [gzip]=gzip)
  local missing=() cmd
  for cmd in "${!pkg_for[@]}"; do
    command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] || missing+=("${pkg_for[$cmd]}")
  done
  ((${#missing[@]})) || return 0
  [ "$(id -u)" = 0 ] || die "missing tools; install them with: sudo apt-get install -y ${missing[*]}"
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}
install_missing
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
[ "$(nproc)" -ge 2 ] || die "needs 2 cores (proxy on core 0, load generator and backend on core 1)"

# Connection caps. Idle-connection figures hold IDLE_CONNS connections at
# once: each process needs that many file descriptors (the limit is raised
# here, as far as the hard limit allows, and inherited), and each proxy a
# cap high enough: nginx worker_connections and HAProxy maxconn are
# PROXY_CONNS (HAProxy wants two descriptors per connection and refuses to
# start when the limit cannot hold them); tlsgate's limits.max_connections
# keeps its default of 10000 (the configuration measured is the one users
# get), so IDLE_CONNS stays below it.
((IDLE_CONNS <= 9000)) || die "IDLE_CONNS=$IDLE_CONNS: at most 9000 (tlsgate's limits.max_connections default is 10000)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
PROXY_CONNS=$(((NOFILE - 1000) / 2))
((PROXY_CONNS <= 16384)) || PROXY_CONNS=16384
((PROXY_CONNS >= IDLE_CONNS + 500)) ||
  die "open file limit $NOFILE is too low for IDLE_CONNS=$IDLE_CONNS (needs $((2 * IDLE_CONNS + 2000)); raise the hard limit: ulimit -Hn)"

for t in $TARGETS; do
  [ -n "${PORT[$t]:-}" ] || die "unknown target $t"
  [[ " $SUITE_TARGETS " == *" $t "* ]] || die "target $t is not part of SUITE=$SUITE ($SUITE_TARGETS)"
  ! ss -Hltn "sport = :${PORT[$t]}" | grep -q . || die "port ${PORT[$t]} is in use; set BASE_PORT"
done
! ss -Hltn "sport = :$BASE_PORT" | grep -q . || die "port $BASE_PORT is in use; set BASE_PORT"

WORK=$(mktemp -d /tmp/tlsgate-bench.XXXXXX)
declare -A LIVE # processes this script started and has not reaped yet
cleanup() {
  local p
  for p in "${!LIVE[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log "building tlsgate and the bench tools"
mkdir -p "$WORK/bin"
go build -o "$WORK/bin/tlsgate" ./cmd/tlsgate
TLSGATE_REV=$(git describe --always --dirty 2>/dev/null || echo "unknown revision")
go build -o "$WORK/bin/backend" ./bench/backend
go build -o "$WORK/bin/idleconns" ./bench/idleconns
go build -o "$WORK/bin/newconns" ./bench/newconns
go build -o "$WORK/bin/floor" ./bench/floor

# One certificate and key for every proxy (HAProxy wants both in one file).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
cat "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/certkey.pem"
chmod 600 "$WORK/key.pem" "$WORK/certkey.pem"

# --- configs -----------------------------------------------------------------

# write_config TARGET: writes TARGET's config into $WORK/TARGET/.
write_config() {
  local t=$1 d="$WORK/$1" port=${PORT[$1]}
  mkdir -p "$d"
  case $t in
    tlsgate | tlsgate-log | tlsgate-std)
      local alog="" format=$ACCESS_LOG compress=""
      if [ "$t" = tlsgate-log ]; then format=${ACCESS_LOG:-json}; elif [ "$SUITE" = accesslog ]; then format=""; fi
      [ -z "$format" ] || alog="access_log: {output: $d/access.log, format: $format}"
      [ "$SUITE" != gzip ] || compress="compress: true"
      local engine=""
      [ -z "$ENGINE" ] || engine="server: {engine: $ENGINE}"
      [ "$t" != tlsgate-std ] || engine="server: {engine: std}"
      cat >"$d/tlsgate.yaml" <<YAML
data_dir: $d/data
listen: {http: "", https: "127.0.0.1:$port"}
admin: ""
$alog
$engine
sites:
  - hosts: [localhost]
    tls: {cert_file: $WORK/cert.pem, key_file: $WORK/key.pem}
    $compress
    routes:
      - path: /
        to: ["http://$BACKEND_ADDR"]
YAML
      ;;
    nginx | nginx-gz6)
      local gzip=""
      if [ "$SUITE" = gzip ]; then
        local level=1 # nginx's default gzip_comp_level
        [ "$t" = nginx ] || level=6
        gzip="gzip on; gzip_comp_level $level; gzip_min_length 512; gzip_vary on; gzip_proxied any; gzip_types application/json;"
      fi
      cat >"$d/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
worker_rlimit_nofile $NOFILE;
events { worker_connections $PROXY_CONNS; }
http {
  access_log off;
  client_body_temp_path $d/body;
  proxy_temp_path $d/proxy;
  $gzip
  # nginx closes a connection after 1000 requests by default; Go, HAProxy
  # and Caddy have no such limit, so lift it to keep "keep-alive" meaning
  # the same.
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  upstream backend {
    server $BACKEND_ADDR;
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$port ssl http2;
    server_name localhost;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_set_header Forwarded "for=\$remote_addr;host=\$host;proto=https";
    }
  }
}
NGINX
      ;;
    haproxy)
      local gzip=""
      [ "$SUITE" != gzip ] || gzip="compression algo gzip
  compression type application/json"
      # No "log" line anywhere: HAProxy logs nothing. Idle upstream
      # connections are shared by every client connection (http-reuse
      # always), kept up to 256 (pool-max-conn), as the others' pools.
      cat >"$d/haproxy.cfg" <<HAPROXY
global
  nbthread 1
  maxconn $PROXY_CONNS
  ssl-default-bind-options ssl-min-ver TLSv1.2
  # HAProxy prefers its own cipher order, whose first is AES-256; put
  # AES-128 first so it negotiates what the other three do.
  ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256

defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
  http-reuse always

frontend https
  bind 127.0.0.1:$port ssl crt $WORK/certkey.pem alpn h2,http/1.1
  maxconn $PROXY_CONNS
  option forwardfor
  http-request set-header X-Forwarded-Proto https
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header Forwarded "for=%[src];host=%[req.hdr(host)];proto=https"
  default_backend app

backend app
  $gzip
  server app $BACKEND_ADDR pool-max-conn 256
HAPROXY
      ;;
    caddy)
      local gzip=""
      [ "$SUITE" != gzip ] || gzip="encode gzip"
      cat >"$d/Caddyfile" <<CADDY
{
	admin off
	auto_https disable_redirects
	servers {
		protocols h1 h2
	}
}

https://localhost:$port {
	bind 127.0.0.1
	tls $WORK/cert.pem $WORK/key.pem
	$gzip
	reverse_proxy $BACKEND_ADDR {
		transport http {
			keepalive 90s
			keepalive_idle_conns 256
			keepalive_idle_conns_per_host 256
		}
	}
}
CADDY
      ;;
  esac
}
for t in $TARGETS; do write_config "$t"; done

# --- processes ---------------------------------------------------------------

# start TARGET: starts it on its core and sets TPID.
start() {
  local t=$1 d="$WORK/$1" out="$WORK/$1/run.log"
  mkdir -p "$d"
  case $t in
    backend) taskset -c 1 "$WORK/bin/backend" -addr "$BACKEND_ADDR" >"$out" 2>&1 & ;;
    tlsgate | tlsgate-log | tlsgate-std)
      # shellcheck disable=SC2086 # TLSGATE_ENV is a list of NAME=VALUE words
      env $TLSGATE_ENV GOMAXPROCS=1 taskset -c 0 "$WORK/bin/tlsgate" run -c "$d/tlsgate.yaml" >"$out" 2>&1 &
      ;;
    floor)
      GOMAXPROCS=1 taskset -c 0 "$WORK/bin/floor" -addr "127.0.0.1:${PORT[$t]}" -backend "$BACKEND_ADDR" \
        -cert "$WORK/cert.pem" -key "$WORK/key.pem" >"$out" 2>&1 &
      ;;
    nginx | nginx-gz6) taskset -c 0 "$NGINX" -c "$d/nginx.conf" -e "$d/error.log" >"$out" 2>&1 & ;;
    haproxy) taskset -c 0 "$HAPROXY" -db -f "$d/haproxy.cfg" >"$out" 2>&1 & ;;
    caddy)
      HOME=$d XDG_DATA_HOME=$d XDG_CONFIG_HOME=$d GOMAXPROCS=1 \
        taskset -c 0 caddy run --config "$d/Caddyfile" --adapter caddyfile >"$out" 2>&1 &
      ;;
  esac
  TPID=$!
  LIVE[$TPID]=1
  local i
  for ((i = 0; i < 100; i++)); do
    if [ "$(curl -sk -o /dev/null -w '%{http_code}' "$(url "$t")" 2>/dev/null)" = 200 ]; then return 0; fi
    kill -0 "$TPID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$out" >&2
  die "$t did not start"
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  unset "LIVE[$1]"
}

url() {
  if [ "$1" = backend ]; then echo "http://$BACKEND_ADDR$REQ_PATH"; else echo "https://localhost:${PORT[$1]}$REQ_PATH"; fi
}

# pids PID: the process and its children (nginx's worker).
pids() { echo "$1" "$(pgrep -P "$1" | paste -sd ' ' || true)"; }

# rss_kib PID: resident memory of the process tree, KiB.
rss_kib() {
  local p sum=0 v
  for p in $(pids "$1"); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

# cpu_ticks PID: utime+stime of the process tree, in clock ticks.
cpu_ticks() {
  local p sum=0 v
  for p in $(pids "$1"); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
HZ=$(getconf CLK_TCK)
now() { date +%s.%N; }

# --- figures -----------------------------------------------------------------

# A result line, one per measurement, in $WORK/result.TARGET.KIND:
#   req/s p50-ms p99-ms cpu% req-per-cpu-second cpu-µs-per-request bytes-per-response mark
# with "-" for a figure the measurement has not, and mark "!" when a request
# failed or was not 2xx ("ok" otherwise).

# cpu_figures TICKS SECONDS OK: "cpu% req-per-cpu-second µs-per-request".
cpu_figures() {
  awk -v c="$1" -v hz="$HZ" -v s="$2" -v n="$3" 'BEGIN {
    printf "%d ", 100 * c / hz / s
    if (c == 0 || n == 0) print "- -"; else printf "%d %.1f\n", n / (c / hz), c / hz / n * 1e6
  }'
}

# h2load_run TARGET ARGS...: runs h2load on core 1 against TARGET's process
# (PID in CPID) and prints a result line: the rate h2load reports, p50 and
# p99 from its per-request log, the CPU figures of the measured process, and
# the bytes h2load received per successful request. The negotiated TLS
# parameters go to $WORK/tls.
h2load_run() {
  local t=$1
  shift
  local out="$WORK/h2load.out" logf="$WORK/h2load.reqlog" c0 c1 t0 t1
  c0=$(cpu_ticks "$CPID")
  t0=$(now)
  taskset -c 1 h2load "${REQ_HEADER[@]}" "$@" --log-file="$logf" >"$out" 2>&1 || true
  t1=$(now)
  c1=$(cpu_ticks "$CPID")
  local rps ok bad mark=ok pcts bytes
  rps=$(awk '/^finished in/ {gsub(",", "", $4); printf "%d", $4}' "$out")
  [ -n "$rps" ] || { cat "$out" >&2; die "h2load against $t failed"; }
  # "requests: T total, S started, D done, OK succeeded, F failed, E errored, X timeout"
  ok=$(awk '/^requests:/ {print $8}' "$out")
  bad=$(awk '/^requests:/ {b = $10 + $12 + $14} /^status codes:/ {b += $5 + $7 + $9} END {print b}' "$out")
  if ((bad > 0 || ok == 0)); then
    echo "warning: $t $*: $bad requests failed or were not 2xx" >&2
    mark="!"
  fi
  awk -F': ' -v t="$t" '/^TLS Protocol/ {p=$2} /^Cipher/ {c=$2} /^Server Temp Key/ {k=$2} END {if (p) print t": "p", "c", "k}' "$out" >>"$WORK/tls"
  # "traffic: 4.05MB (4249302) total, ..."
  bytes=$(awk -v n="$ok" '/^traffic:/ {gsub(/[()]/, "", $3); if (n > 0) printf "%d", $3 / n; else print "-"}' "$out")
  # The log's third column is the response time in µs.
  pcts=$(cut -f3 "$logf" | sort -n | awk '{a[NR] = $1} END {
    if (NR == 0) { print "- -"; exit }
    i = int(NR * 0.5); if (i < 1) i = 1; j = int(NR * 0.99); if (j < 1) j = 1
    printf "%.2f %.1f\n", a[i] / 1000, a[j] / 1000 }')
  rm -f "$logf"
  echo "$rps $pcts $(cpu_figures $((c1 - c0)) "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "$ok") ${bytes:--} $mark"
}

warm() { taskset -c 1 h2load "${REQ_HEADER[@]}" "$@" >/dev/null 2>&1 || true; }

# newconns_run TARGET: bench/newconns on core 1 against TARGET; prints a
# result line (no latencies, no bytes).
newconns_run() {
  local t=$1 out="$WORK/newconns.out" c0 c1 t0 t1 rps ok failed mark=ok
  c0=$(cpu_ticks "$CPID")
  t0=$(now)
  GOMAXPROCS=1 taskset -c 1 "$WORK/bin/newconns" -addr "127.0.0.1:${PORT[$t]}" -n "$HS_REQUESTS" -c "$HS_CONNS" >"$out" 2>&1 || true
  t1=$(now)
  c1=$(cpu_ticks "$CPID")
  read -r _ ok _ failed _ _ _ rps < <(grep '^conns' "$out") || { cat "$out" >&2; die "newconns against $t failed"; }
  if ((failed > 0 || ok == 0)); then
    echo "warning: $t new connections: $failed failed:" >&2
    cat "$out" >&2
    mark="!"
  fi
  echo "$rps - - $(cpu_figures $((c1 - c0)) "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "$ok") - $mark"
}

# figure TARGET KIND: one measurement of KIND (h1, h2 or hs, see the header).
figure() {
  local t=$1 u
  u=$(url "$t")
  CPID=${TPIDS[$t]}
  case $2 in
    h1) h2load_run "$t" --h1 -c "$H1_CONNS" -m 1 -D "$DURATION" "$u" ;;
    h2) h2load_run "$t" -c "$H2_CONNS" -m "$H2_STREAMS" -D "$DURATION" "$u" ;;
    hs) newconns_run "$t" ;;
  esac
}

# idle_memory TARGET PROTO: starts a fresh proxy, warms it up, and prints
# "KiB-per-idle-connection RSS-before-MiB".
idle_memory() {
  local t=$1 proto=$2 u before after line="" opened failed pid ipid i
  u=$(url "$t")
  start "$t"
  pid=$TPID
  # Warm-up: fault in the code paths and buffers of both protocols.
  warm --h1 -n 2000 -c 16 "$u"
  warm -n 2000 -c 4 -m 8 "$u"
  sleep 1
  before=$(rss_kib "$pid")
  mkfifo "$WORK/idle.in"
  taskset -c 1 "$WORK/bin/idleconns" -addr "127.0.0.1:${PORT[$t]}" -n "$IDLE_CONNS" -proto "$proto" -hold 120s \
    <"$WORK/idle.in" >"$WORK/idle.out" 2>"$WORK/idle.err" &
  ipid=$!
  LIVE[$ipid]=1
  exec 9>"$WORK/idle.in"
  # Opening takes about 1 ms per connection; allow 30 s plus 10 ms each.
  for ((i = 0; i < 300 + IDLE_CONNS / 10; i++)); do
    line=$(grep '^ready' "$WORK/idle.out" || true)
    [ -z "$line" ] || break
    sleep 0.1
  done
  [ -n "$line" ] || { cat "$WORK/idle.err" >&2; die "idleconns did not finish opening connections to $t"; }
  read -r _ opened failed <<<"$line"
  if ((failed > 0)); then
    echo "warning: $t $proto: $failed of $IDLE_CONNS idle connections failed:" >&2
    cat "$WORK/idle.err" >&2
  fi
  sleep 1
  after=$(rss_kib "$pid")
  exec 9>&- # closing its stdin makes idleconns close the connections and exit
  wait "$ipid" 2>/dev/null || true
  unset "LIVE[$ipid]"
  rm -f "$WORK/idle.in"
  stop "$pid"
  awk -v a="$after" -v b="$before" -v n="$opened" 'BEGIN {printf "%.1f %.1f\n", (a - b) / n, b / 1024}'
}

# gzip_check TARGET: one answer with curl, asking for gzip; dies unless it
# is gzip and decodes to the backend's body; prints the compressed body size.
gzip_check() {
  local t=$1 hdr="$WORK/gzip.hdr" body="$WORK/gzip.body" plain
  curl -sk --http1.1 -H "Accept-Encoding: gzip" -D "$hdr" -o "$body" "$(url "$t")" ||
    die "$t: curl failed"
  grep -qi '^content-encoding: *gzip' "$hdr" || { cat "$hdr" >&2; die "$t did not answer with gzip"; }
  plain=$(gzip -dc "$body" | wc -c)
  ((plain == 65536)) || die "$t: the gzip body decodes to $plain bytes, not 65536"
  stat -c %s "$body"
}

# median FILE: of result lines, the one with the median req/s (the upper
# one of an even count).
median() { sort -n "$1" | awk '{l[NR] = $0} END {print l[int(NR / 2) + 1]}'; }
# range FILE: "min-max" req/s.
range() { sort -n "$1" | awk 'NR == 1 {a = $1} {b = $1} END {print a "-" b}'; }

# --- run ---------------------------------------------------------------------

proxies=()
for t in $TARGETS; do [ "$t" = backend ] || proxies+=("$t"); done
declare -A TPIDS IDLE1 IDLE2 BASE GZBODY

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "SUITE=$SUITE: starting the backend on core 1"
start backend
TPIDS[backend]=$TPID

# Memory first, on fresh processes, one proxy at a time. (Not in a
# subshell: start and stop keep track of the processes in LIVE.)
if ((MEMORY)); then
  for t in "${proxies[@]}"; do
    [ "$t" != floor ] || continue
    log "$t: memory per idle connection ($IDLE_CONNS; h1, then h2, each on a fresh process)"
    idle_memory "$t" h1 >"$WORK/mem"
    read -r "IDLE1[$t]" "BASE[$t]" <"$WORK/mem"
    idle_memory "$t" h2 >"$WORK/mem"
    read -r "IDLE2[$t]" _ <"$WORK/mem"
  done
fi

# Throughput: every proxy runs (idle while the others are measured), and the
# targets take turns within each round, so that a burst of other load on the
# machine spreads over all of them instead of skewing one.
for t in "${proxies[@]}"; do
  start "$t"
  TPIDS[$t]=$TPID
  [ "$SUITE" != gzip ] || GZBODY[$t]=$(gzip_check "$t")
done
log "warming up"
for t in $TARGETS; do
  u=$(url "$t")
  warm --h1 -c "$H1_CONNS" -n $((H1_CONNS * 100)) "$u"
  warm -c "$H2_CONNS" -m "$H2_STREAMS" -n $((H2_CONNS * H2_STREAMS * 100)) "$u"
  [ "$t" = backend ] || [[ " $KINDS " != *" hs "* ]] ||
    GOMAXPROCS=1 taskset -c 1 "$WORK/bin/newconns" -addr "127.0.0.1:${PORT[$t]}" -n 500 -c "$HS_CONNS" >/dev/null 2>&1 || true
done
for ((round = 1; round <= ROUNDS; round++)); do
  for t in $TARGETS; do
    log "round $round/$ROUNDS: $t"
    for kind in $KINDS; do
      [ "$t" != backend ] || [ "$kind" != hs ] || continue
      [ "$t" != floor ] || [ "$kind" = h1 ] || continue
      figure "$t" "$kind" >>"$WORK/result.$t.$kind"
    done
  done
done

# --- report ------------------------------------------------------------------

# Fields of a result line, by name.
declare -A FIELD=([rps]=1 [p50]=2 [p99]=3 [cpu]=4 [percpu]=5 [us]=6 [bytes]=7)

# cell TARGET KIND NAME: field NAME of the median run, with the failure mark
# on req/s.
cell() {
  local f="$WORK/result.$1.$2"
  [ -s "$f" ] || { echo "n/a"; return; }
  median "$f" | awk -v i="${FIELD[$3]}" '{v = $i; if (i == 1 && $8 == "!") v = v " !"; print v}'
}

# ratio A B: A / B to two decimals, "-" when either is not a number.
ratio() {
  awk -v a="${1% !}" -v b="${2% !}" 'BEGIN {
    if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'
}

name() {
  case $1 in
    backend) echo "backend direct (cleartext)" ;;
    tlsgate) if [ "$SUITE" = gzip ]; then echo "tlsgate (compress: true)"; elif [ "$SUITE" = accesslog ]; then echo "tlsgate (no access log)"; else echo tlsgate; fi ;;
    tlsgate-log) echo "tlsgate-log (access_log ${ACCESS_LOG:-json} to a file)" ;;
    tlsgate-std) echo "tlsgate-std (server.engine: std, net/http's server)" ;;
    nginx) if [ "$SUITE" = gzip ]; then echo "nginx (gzip_comp_level 1)"; else echo nginx; fi ;;
    nginx-gz6) echo "nginx-gz6 (gzip_comp_level 6)" ;;
    haproxy) if [ "$SUITE" = gzip ]; then echo "haproxy (compression algo gzip)"; else echo haproxy; fi ;;
    caddy) if [ "$SUITE" = gzip ]; then echo "caddy (encode gzip)"; else echo caddy; fi ;;
    floor) echo "floor (bench/floor: Go + crypto/tls, no HTTP parsing)" ;;
  esac
}

# table HEADER SPECS...: a Markdown table, one row per target; each SPEC is
# KIND:NAME (a cell), or mem1/mem2/base/gzbody (the memory and gzip figures).
value() {
  case $2 in
    mem1) echo "${IDLE1[$1]:--}" ;;
    mem2) echo "${IDLE2[$1]:--}" ;;
    base) echo "${BASE[$1]:--}" ;;
    gzbody) echo "${GZBODY[$1]:--}" ;;
    *:range) if [ -s "$WORK/result.$1.${2%%:*}" ]; then range "$WORK/result.$1.${2%%:*}"; else echo n/a; fi ;;
    *) cell "$1" "${2%%:*}" "${2##*:}" ;;
  esac
}
table() {
  local header=$1 spec t row
  shift
  echo "| target | $header |"
  echo "|---$(printf '|--:%.0s' "$@")|"
  for t in $TARGETS; do
    row="| $(name "$t")"
    for spec; do row+=" | $(value "$t" "$spec")"; done
    echo "$row |"
  done
}
# ratios HEADER SPECS...: REF / each other proxy (accesslog: REF / tlsgate),
# one row per pair, same columns.
ratios() {
  local header=$1 spec p row
  shift
  echo "| ratio | $header |"
  echo "|---$(printf '|--:%.0s' "$@")|"
  for p in "${proxies[@]}"; do
    [ "$p" != "$REF" ] || continue
    [[ " $TARGETS " == *" $REF "* ]] || continue
    row="| $REF/$p"
    for spec; do row+=" | $(ratio "$(value "$REF" "$spec")" "$(value "$p" "$spec")")"; done
    echo "$row |"
  done
}

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
versions="tlsgate $TLSGATE_REV ($(go env GOVERSION))"
for p in $(for t in "${proxies[@]}"; do program "$t"; done | sort -u); do
  case $p in
    nginx) versions+=", $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')" ;;
    haproxy) versions+=", haproxy $("$HAPROXY" -v | awk 'NR == 1 {print $3}')" ;;
    caddy) versions+=", caddy $(caddy version | cut -d' ' -f1)" ;;
  esac
done
versions+=", $(h2load --version | sed 's/^h2load //'), $(openssl version | cut -d' ' -f1-2)"
cat <<EOF
Suite: $SUITE. Machine: $(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), Linux $(uname -r).
Versions: $versions.
Load average before: $LOAD_BEFORE; after: $LOAD_AFTER (the benchmark itself keeps about 2 busy; more means other programs competed for the cores).

Median of $ROUNDS rounds. h1: $H1_CONNS connections x 1 request; h2: $H2_CONNS connections x $H2_STREAMS streams; $DURATION s each; GET $REQ_PATH${REQ_HEADER[1]:+ with "${REQ_HEADER[1]}"}.
TLS negotiated by h2load: $(sort -u "$WORK/tls" 2>/dev/null | paste -sd ';' | sed 's/;/; /g').
EOF
case $SUITE in
  main)
    cols=(h1:us h1:rps h1:p50 h1:p99 h2:us h2:rps h2:p50 h2:p99 hs:rps hs:us mem1 mem2)
    hdr="h1 CPU µs/req | h1 req/s | h1 p50 ms | h1 p99 ms | h2 CPU µs/req | h2 req/s | h2 p50 ms | h2 p99 ms | new TLS conns/s | CPU µs/new conn | KiB / idle conn h1 | KiB / idle conn h2"
    cat <<EOF
New TLS connections: $HS_REQUESTS per round, $HS_CONNS at a time, full TLS 1.3 handshakes (X25519), one request each.
Idle: $IDLE_CONNS connections.

EOF
    table "$hdr" "${cols[@]}"
    echo
    echo "Ratios (above 1: tlsgate has more; better for req/s, worse for µs, ms and KiB):"
    echo
    ratios "$hdr" "${cols[@]}"
    cat <<EOF

CPU of the measured process in the median run (share of one core; successful requests per CPU second), warm RSS, and the req/s range over the rounds:

EOF
    table "h1 CPU % | h1 req/CPU-s | h2 CPU % | h2 req/CPU-s | new conns CPU % | new conns/CPU-s | RSS warm MiB | h1 range | h2 range | new conns range" \
      h1:cpu h1:percpu h2:cpu h2:percpu hs:cpu hs:percpu base h1:range h2:range hs:range
    ;;
  gzip)
    cols=(gzbody h1:bytes h1:us h1:rps h1:p99 h2:bytes h2:us h2:rps h2:p99)
    hdr="gzip body B | h1 B/resp | h1 CPU µs/req | h1 req/s | h1 p99 ms | h2 B/resp | h2 CPU µs/req | h2 req/s | h2 p99 ms"
    echo "Body: 64 KiB (65536 B) of JSON from the backend; B/resp is what h2load received per answer (headers and body, no TLS)."
    echo
    table "$hdr" "${cols[@]}"
    echo
    echo "Ratios (above 1: tlsgate has more; better for req/s, worse for bytes, µs and ms):"
    echo
    ratios "$hdr" "${cols[@]}"
    echo
    table "h1 CPU % | h1 req/CPU-s | h2 CPU % | h2 req/CPU-s | h1 range | h2 range" h1:cpu h1:percpu h2:cpu h2:percpu h1:range h2:range
    ;;
  accesslog)
    cols=(h1:percpu h1:us h1:rps h1:p99 h2:percpu h2:us h2:rps h2:p99)
    hdr="h1 req/CPU-s | h1 CPU µs/req | h1 req/s | h1 p99 ms | h2 req/CPU-s | h2 CPU µs/req | h2 req/s | h2 p99 ms"
    echo
    table "$hdr" "${cols[@]}"
    echo
    ratios "$hdr" "${cols[@]}"
    if [[ " $TARGETS " == *" tlsgate "* && " $TARGETS " == *" tlsgate-log "* ]]; then
      r=$(ratio "$(value tlsgate-log h1:percpu)" "$(value tlsgate h1:percpu)")
      lines=$(wc -l <"$WORK/tlsgate-log/access.log" 2>/dev/null || echo 0)
      echo
      echo "h1 requests per CPU second with the access log / without: $r$(awk -v r="$r" 'BEGIN {if (r ~ /^[0-9.]+$/) printf " (a %.0f%% drop; issue #11 allows at most 10%%)", (1 - r) * 100}'). tlsgate-log wrote $lines lines."
    fi
    ;;
esac
