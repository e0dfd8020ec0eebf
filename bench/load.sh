#!/usr/bin/env bash
# bench/load.sh — load benchmark of tlsgate against nginx and Caddy.
#
#   ./bench/load.sh     # ~3.5 min; Markdown tables on stdout, progress on stderr
#
# One run, one machine, one backend. Four targets are measured in turn:
#   backend  the Go backend (bench/backend) hit directly over cleartext
#            HTTP/1.1 and h2c: the ceiling this load generator and backend
#            allow, with no TLS and no proxy;
#   tlsgate, nginx, caddy
#            each terminating TLS on 127.0.0.1 with the SAME ECDSA P-256
#            certificate and key (made here with openssl), speaking HTTP/1.1
#            with keep-alive (pool of 256) to the same backend, one worker
#            (GOMAXPROCS=1 / worker_processes 1), no access log, the usual
#            X-Forwarded-*/Forwarded headers added.
# Every proxy is pinned to core 0 (taskset -c 0) and is measured while the
# others sit idle; the load generators (h2load, bench/newconns,
# bench/idleconns) and the backend share core 1. Needs at least 2 cores.
#
# Figures, per target:
#   h1 req/s, h1 p99   keep-alive HTTP/1.1: h2load --h1, H1_CONNS connections,
#                      one request in flight on each, DURATION seconds. p99
#                      is computed from h2load's per-request log (--log-file),
#                      since h2load itself prints no percentiles.
#   h2 req/s, h2 p99   keep-alive HTTP/2: h2load, H2_CONNS connections x
#                      H2_STREAMS streams (same requests in flight as h1).
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
#   proxy CPU          CPU seconds the proxy process used during a figure
#                      (utime+stime from /proc/PID/stat), as a share of the
#                      wall time, and requests per CPU second. When the proxy
#                      is below ~100%, core 1 (h2load + backend) or other load
#                      on the machine was the limit, and per-CPU-second figures
#                      are the fairer comparison.
#
# The throughput figures are taken ROUNDS times, the targets taking turns in
# each round, and the median is reported with the range, because a shared
# machine is noisy. Everything is warmed up before it is measured.
#
# Knobs (environment): DURATION=5 ROUNDS=3 H1_CONNS=64 H2_CONNS=8 H2_STREAMS=8
# HS_REQUESTS=8000 HS_CONNS=32 IDLE_CONNS=2000 BASE_PORT=19000 TARGETS="backend tlsgate nginx caddy"
# ACCESS_LOG=json|combined (tlsgate writes an access log to a file in the work dir; default none).
# TLSGATE_ENV="GOGC=200" adds environment variables for tlsgate only (GC tuning).
# Only loopback addresses are used; every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
H1_CONNS=${H1_CONNS:-64}
H2_CONNS=${H2_CONNS:-8}
H2_STREAMS=${H2_STREAMS:-8}
HS_REQUESTS=${HS_REQUESTS:-8000}
HS_CONNS=${HS_CONNS:-32}
IDLE_CONNS=${IDLE_CONNS:-2000}
BASE_PORT=${BASE_PORT:-19000}
TARGETS=${TARGETS:-"backend tlsgate nginx caddy"}
TLSGATE_ENV=${TLSGATE_ENV:-}
ACCESS_LOG=${ACCESS_LOG:-}

BACKEND_ADDR=127.0.0.1:$BASE_PORT
declare -A PORT=([backend]=$BASE_PORT [tlsgate]=$((BASE_PORT + 443)) [nginx]=$((BASE_PORT + 444)) [caddy]=$((BASE_PORT + 445)))

log() { echo "== $*" >&2; }
die() { echo "load.sh: $*" >&2; exit 1; }

# --- prerequisites -----------------------------------------------------------

install_missing() {
  local -A pkg_for=([nginx]=nginx-light [caddy]=caddy [h2load]=nghttp2-client [openssl]=openssl [curl]=curl [taskset]=util-linux)
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
[ "$(nproc)" -ge 2 ] || die "needs 2 cores (proxy on core 0, load generator and backend on core 1)"

# Idle-connection figures need a few thousand file descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) > IDLE_CONNS + 100)) || die "open file limit $(ulimit -n) is too low for IDLE_CONNS=$IDLE_CONNS"

for t in $TARGETS; do
  [ -n "${PORT[$t]:-}" ] || die "unknown target $t"
  ! ss -Hltn "sport = :${PORT[$t]}" | grep -q . || die "port ${PORT[$t]} is in use; set BASE_PORT"
done

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
go build -o "$WORK/tlsgate" ./cmd/tlsgate
TLSGATE_REV=$(git describe --always --dirty 2>/dev/null || echo "unknown revision")
go build -o "$WORK/backend" ./bench/backend
go build -o "$WORK/idleconns" ./bench/idleconns
go build -o "$WORK/newconns" ./bench/newconns

# One certificate and key for every proxy.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
chmod 600 "$WORK/key.pem"

# --- configs -----------------------------------------------------------------

write_configs() {
  cat >"$WORK/tlsgate.yaml" <<EOF
data_dir: $WORK/tlsgate-data
listen: {http: "", https: "127.0.0.1:${PORT[tlsgate]}"}
admin: ""
${ACCESS_LOG:+access_log: {output: $WORK/access.log, format: $ACCESS_LOG\}}
sites:
  - hosts: [localhost]
    tls: {cert_file: $WORK/cert.pem, key_file: $WORK/key.pem}
    routes:
      - path: /
        to: ["http://$BACKEND_ADDR"]
EOF

  mkdir -p "$WORK/nginx"
  cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  # nginx closes a connection after 1000 requests by default; Go and Caddy
  # have no such limit, so lift it to keep "keep-alive" meaning the same.
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  upstream backend {
    server $BACKEND_ADDR;
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${PORT[nginx]} ssl http2;
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
EOF

  cat >"$WORK/Caddyfile" <<EOF
{
	admin off
	auto_https disable_redirects
	servers {
		protocols h1 h2
	}
}

https://localhost:${PORT[caddy]} {
	bind 127.0.0.1
	tls $WORK/cert.pem $WORK/key.pem
	reverse_proxy $BACKEND_ADDR {
		transport http {
			keepalive 90s
			keepalive_idle_conns 256
			keepalive_idle_conns_per_host 256
		}
	}
}
EOF
}
write_configs

# --- processes ---------------------------------------------------------------

# start TARGET: starts it on its core and sets TPID.
start() {
  local t=$1 out="$WORK/$1.log"
  case $t in
    backend) taskset -c 1 "$WORK/backend" -addr "$BACKEND_ADDR" >"$out" 2>&1 & ;;
    tlsgate) env $TLSGATE_ENV GOMAXPROCS=1 taskset -c 0 "$WORK/tlsgate" run -c "$WORK/tlsgate.yaml" >"$out" 2>&1 & ;;
    nginx) taskset -c 0 "$NGINX" -c "$WORK/nginx.conf" -e "$WORK/nginx/error.log" >"$out" 2>&1 & ;;
    caddy)
      mkdir -p "$WORK/caddy-home"
      HOME=$WORK/caddy-home XDG_DATA_HOME=$WORK/caddy-home XDG_CONFIG_HOME=$WORK/caddy-home GOMAXPROCS=1 \
        taskset -c 0 caddy run --config "$WORK/Caddyfile" --adapter caddyfile >"$out" 2>&1 &
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
  if [ "$1" = backend ]; then echo "http://$BACKEND_ADDR/"; else echo "https://localhost:${PORT[$1]}/"; fi
}

# pids PID: the process and its children (nginx's worker).
pids() { echo "$1" $(pgrep -P "$1" || true); }

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

# h2load_run TARGET ARGS...: runs h2load on core 1 against TARGET's process
# (PID in CPID) and prints one line "req/s p99ms cpu% req-per-cpu-second mark":
# the rate h2load reports, the p99 from its per-request log, the CPU the
# measured process used as a share of the wall time, and successful requests
# per CPU second of it. mark is "!" when any request failed or was not 2xx.
# The negotiated TLS parameters go to $WORK/tls.
h2load_run() {
  local t=$1
  shift
  local out="$WORK/h2load.out" logf="$WORK/h2load.reqlog" c0 c1 t0 t1
  c0=$(cpu_ticks "$CPID")
  t0=$(now)
  taskset -c 1 h2load "$@" --log-file="$logf" >"$out" 2>&1 || true
  t1=$(now)
  c1=$(cpu_ticks "$CPID")
  local rps ok bad mark="" p99 cpu percpu
  rps=$(awk '/^finished in/ {gsub(",", "", $4); printf "%d", $4}' "$out")
  [ -n "$rps" ] || { cat "$out" >&2; die "h2load against $t failed"; }
  # "requests: T total, S started, D done, OK succeeded, F failed, E errored, X timeout"
  ok=$(awk '/^requests:/ {print $8}' "$out")
  bad=$(awk '/^requests:/ {b = $10 + $12 + $14} /^status codes:/ {b += $5 + $7 + $9} END {print b}' "$out")
  if ((bad > 0 || ok == 0)); then
    echo "warning: $t $*: $bad requests failed or were not 2xx" >&2
    mark="!"
  fi
  awk -F': ' '/^TLS Protocol/ {p=$2} /^Cipher/ {c=$2} /^Server Temp Key/ {k=$2} END {if (p) print p", "c", "k}' "$out" >>"$WORK/tls"
  p99=$(cut -f3 "$logf" | sort -n | awk '{a[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.1f", a[i] / 1000}')
  cpu=$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v a="$t0" -v b="$t1" 'BEGIN {printf "%d", 100 * c / hz / (b - a)}')
  percpu=$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v n="$ok" 'BEGIN {if (c == 0) print "-"; else printf "%d", n / (c / hz)}')
  rm -f "$logf"
  echo "$rps $p99 $cpu $percpu $mark"
}

warm() { taskset -c 1 h2load "$@" >/dev/null 2>&1 || true; }

# newconns_run TARGET: bench/newconns on core 1 against TARGET; prints a line
# like h2load_run's, with "-" for the p99.
newconns_run() {
  local t=$1 out="$WORK/newconns.out" c0 c1 t0 t1 rps ok failed mark="" cpu percpu
  c0=$(cpu_ticks "$CPID")
  t0=$(now)
  GOMAXPROCS=1 taskset -c 1 "$WORK/newconns" -addr "127.0.0.1:${PORT[$t]}" -n "$HS_REQUESTS" -c "$HS_CONNS" >"$out" 2>&1 || true
  t1=$(now)
  c1=$(cpu_ticks "$CPID")
  read -r _ ok _ failed _ _ _ rps < <(grep '^conns' "$out") || { cat "$out" >&2; die "newconns against $t failed"; }
  if ((failed > 0 || ok == 0)); then
    echo "warning: $t new connections: $failed failed:" >&2
    cat "$out" >&2
    mark="!"
  fi
  cpu=$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v a="$t0" -v b="$t1" 'BEGIN {printf "%d", 100 * c / hz / (b - a)}')
  percpu=$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v n="$ok" 'BEGIN {if (c == 0) print "-"; else printf "%d", n / (c / hz)}')
  echo "$rps - $cpu $percpu $mark"
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
  taskset -c 1 "$WORK/idleconns" -addr "127.0.0.1:${PORT[$t]}" -n "$IDLE_CONNS" -proto "$proto" -hold 60s \
    <"$WORK/idle.in" >"$WORK/idle.out" 2>"$WORK/idle.err" &
  ipid=$!
  LIVE[$ipid]=1
  exec 9>"$WORK/idle.in"
  for ((i = 0; i < 300; i++)); do
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

# median FILE: of lines "req/s p99 cpu percpu mark", the line with the
# median req/s (the upper one of an even count).
median() { sort -n "$1" | awk '{l[NR] = $0} END {print l[int(NR / 2) + 1]}'; }
# range FILE: "min-max" req/s.
range() { sort -n "$1" | awk 'NR == 1 {a = $1} {b = $1} END {print a "-" b}'; }

proxies=()
for t in $TARGETS; do [ "$t" = backend ] || proxies+=("$t"); done
declare -A TPIDS IDLE1 IDLE2 BASE

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "starting the backend on core 1"
start backend
TPIDS[backend]=$TPID

# Memory first, on fresh processes, one proxy at a time. (Not in a
# subshell: start and stop keep track of the processes in LIVE.)
for t in "${proxies[@]}"; do
  log "$t: memory per idle connection (h1, then h2, each on a fresh process)"
  idle_memory "$t" h1 >"$WORK/mem"
  read -r IDLE1[$t] BASE[$t] <"$WORK/mem"
  idle_memory "$t" h2 >"$WORK/mem"
  read -r IDLE2[$t] _ <"$WORK/mem"
done

# Throughput: every proxy runs (idle while the others are measured), and the
# targets take turns within each round, so that a burst of other load on the
# machine spreads over all of them instead of skewing one.
for t in "${proxies[@]}"; do
  start "$t"
  TPIDS[$t]=$TPID
done
log "warming up"
for t in $TARGETS; do
  u=$(url "$t")
  warm --h1 -c "$H1_CONNS" -n $((H1_CONNS * 100)) "$u"
  warm -c "$H2_CONNS" -m "$H2_STREAMS" -n $((H2_CONNS * H2_STREAMS * 100)) "$u"
  [ "$t" = backend ] || GOMAXPROCS=1 taskset -c 1 "$WORK/newconns" -addr "127.0.0.1:${PORT[$t]}" -n 500 -c "$HS_CONNS" >/dev/null 2>&1 || true
done
for ((round = 1; round <= ROUNDS; round++)); do
  for t in $TARGETS; do
    log "round $round/$ROUNDS: $t"
    for kind in h1 h2 hs; do
      [ "$t" != backend ] || [ "$kind" != hs ] || continue
      figure "$t" "$kind" >>"$WORK/result.$t.$kind"
    done
  done
done

# --- report ------------------------------------------------------------------

# cell TARGET KIND FIELD: FIELD (1 req/s, 2 p99, 3 cpu, 4 per cpu) of the
# median run, with the failure mark on req/s.
cell() {
  local f="$WORK/result.$1.$2"
  [ -s "$f" ] || { echo "n/a"; return; }
  median "$f" | awk -v i="$3" '{v = $i; if (i == 1 && $5 != "") v = v " " $5; print v}'
}

name() { if [ "$1" = backend ]; then echo "backend direct (cleartext)"; else echo "$1"; fi; }

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
cat <<EOF
Machine: $(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), Linux $(uname -r).
Versions: tlsgate $TLSGATE_REV ($(go env GOVERSION)), $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), caddy $(caddy version | cut -d' ' -f1), $(h2load --version | sed 's/^h2load //'), $(openssl version | cut -d' ' -f1-2).
Load average before: $LOAD_BEFORE; after: $LOAD_AFTER (the benchmark itself keeps about 2 busy; more means other programs competed for the cores).

Median of $ROUNDS rounds. h1: $H1_CONNS connections x 1 request; h2: $H2_CONNS connections x $H2_STREAMS streams; $DURATION s each.
New TLS connections: $HS_REQUESTS per round, $HS_CONNS at a time, full TLS 1.3 handshakes (X25519), one request each.
Idle: $IDLE_CONNS connections. TLS negotiated by h2load: $(sort "$WORK/tls" | uniq | paste -sd ';').

| target | h1 req/s | h1 p99 ms | h2 req/s | h2 p99 ms | new TLS conns/s | RSS warm MiB | KiB / idle conn h1 | KiB / idle conn h2 |
|---|--:|--:|--:|--:|--:|--:|--:|--:|
EOF
for t in $TARGETS; do
  echo "| $(name "$t") | $(cell "$t" h1 1) | $(cell "$t" h1 2) | $(cell "$t" h2 1) | $(cell "$t" h2 2) | $(cell "$t" hs 1) | ${BASE[$t]:--} | ${IDLE1[$t]:--} | ${IDLE2[$t]:--} |"
done
cat <<EOF

CPU of the measured process in the median run (share of one core; successful requests per CPU second) and the req/s range over the rounds:

| target | h1 CPU | h1 req/CPU-s | h2 CPU | h2 req/CPU-s | new conns CPU | new conns/CPU-s | h1 range | h2 range | new conns range |
|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|
EOF
for t in $TARGETS; do
  hs=("n/a" "n/a" "n/a")
  [ ! -s "$WORK/result.$t.hs" ] || hs=("$(cell "$t" hs 3)%" "$(cell "$t" hs 4)" "$(range "$WORK/result.$t.hs")")
  echo "| $(name "$t") | $(cell "$t" h1 3)% | $(cell "$t" h1 4) | $(cell "$t" h2 3)% | $(cell "$t" h2 4) | ${hs[0]} | ${hs[1]} | $(range "$WORK/result.$t.h1") | $(range "$WORK/result.$t.h2") | ${hs[2]} |"
done
