#!/usr/bin/env bash
# The proxy's speed benchmark against a direct call and against nginx (`proxy_pass` + `mirror`),
# on loopback at a fixed request rate (an open-loop client: shadow-http/examples/proxy_bench.rs).
#
#   bash shadow-http/bench/load.sh            # 2,000 req/s, 64 keep-alive connections, 15 s, 3 runs
#   SECONDS_PER_RUN=5 RUNS=1 bash shadow-http/bench/load.sh
#   PROXY_SCENARIOS=off NGINX_SCENARIOS=plain PROXY_THREADS=1 bash shadow-http/bench/load.sh
#
# Scenarios: direct to the primary; through the proxy with shadowing off (PARALLEL_RUN=off), and
# at 100% with an identical candidate, one 50x slower (it sleeps 50 ms), one using 50x the CPU, one
# that hangs; nginx without mirror, and with its mirror at each of the same candidates; and a
# control for the CPU-heavy candidate, through each with no mirror while one busy loop per core
# runs at idle priority (`*_burn`: what that candidate's process does to the machine). The
# primary spends ~50 us of CPU per request. The candidates run at the lowest CPU priority
# (SCHED_IDLE), standing for services on other machines: on this 2-core box a candidate at normal
# priority would take the primary's CPU whatever the proxy does. nginx and the proxy get 2 (`PROXY_THREADS`)
# workers each. Prints a table of medians over the runs (throughput, client p50/p99/p999 from each
# request's due time, answered/offered), and the proxy's RSS during the hang run.
# Needs nginx (installed with apt-get when missing) and python3. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
RPS=${RPS:-2000}
CONNS=${CONNS:-64}
SECS=${SECONDS_PER_RUN:-15}
RUNS=${RUNS:-3}
OUT=${OUT:-target/parallel-run/bench}
# Which scenarios run (all by default), and the proxy's worker threads.
PROXY_SCENARIOS=${PROXY_SCENARIOS:-off identical slow cpu50 hang off_burn}
NGINX_SCENARIOS=${NGINX_SCENARIOS:-plain identical slow cpu50 hang plain_burn}
PROXY_THREADS=${PROXY_THREADS:-2}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release -q -p shadow-http --example proxy_bench
cargo build --release -q -p shadow-cli --bin parallel-run
BIN=target/release/examples
PROXY=target/release/parallel-run
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; [ -f "$OUT/nginx.pid" ] && kill "$(cat "$OUT/nginx.pid")" 2>/dev/null || true; }
trap cleanup EXIT

wait_port() { for _ in $(seq 1 200); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }

"$BIN/proxy_bench" serve --role primary --listen 127.0.0.1:19001 2>/dev/null & PIDS+=($!)
wait_port 19001
declare -A CAND=([identical]=19002 [slow]=19003 [cpu50]=19004 [hang]=19005)
# Each candidate server runs only during its own scenario: a CPU-bound one still working off
# the requests of its scenario must not share the cores with the next one.
CPID=""
start_candidate() { # $1 role
  chrt --idle 0 "$BIN/proxy_bench" serve --role "$1" --listen "127.0.0.1:${CAND[$1]}" 2>/dev/null & CPID=$!
  PIDS+=("$CPID")
  wait_port "${CAND[$1]}"
}
# The control for the CPU-heavy candidate: no candidate at all, but one busy loop per core at
# the same idle priority (what the candidate's process does to the machine, without the proxy
# knowing of it).
BURNERS=()
start_burners() { for _ in $(seq 1 "$(nproc)"); do chrt --idle 0 sh -c 'while :; do :; done' & BURNERS+=($!); PIDS+=($!); done; }
stop_burners() { for b in "${BURNERS[@]:-}"; do [ -n "$b" ] && kill "$b" 2>/dev/null || true; done; BURNERS=(); }
stop_candidate() { [ -n "$CPID" ] && { kill "$CPID" 2>/dev/null || true; wait "$CPID" 2>/dev/null || true; }; CPID=""; }

nginx_conf() { # $1: candidate port or "" for no mirror
  local mirror="" loc=""
  if [ -n "$1" ]; then
    mirror="mirror /mirror;"
    loc="location = /mirror { internal; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_pass http://candidate\$request_uri; }"
  fi
  cat > "$OUT/nginx.conf" <<NGX
worker_processes 2;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log;
events { worker_connections 8192; }
http {
  access_log off;
  upstream primary { server 127.0.0.1:19001; keepalive 128; }
  upstream candidate { server 127.0.0.1:${1:-19002}; keepalive 128; }
  server {
    listen 127.0.0.1:18081;
    location / { $mirror proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://primary; }
    $loc
  }
}
NGX
}

run_load() { # $1 label, $2 port
  local line
  line=$("$BIN/proxy_bench" load --target "127.0.0.1:$2" --rps "$RPS" --connections "$CONNS" --seconds "$SECS")
  echo "$1 $line" | tee -a "$OUT/results.txt"
}

: > "$OUT/results.txt"
: > "$OUT/rss.txt"
echo "machine: $(nproc) cores; load before: $(uptime)" | tee "$OUT/machine.txt"
for run in $(seq 1 "$RUNS"); do
  run_load direct 19001
  for scen in $PROXY_SCENARIOS; do
    role=$scen; env=()
    if [ "$scen" = off ] || [ "$scen" = off_burn ]; then role=identical; env=(PARALLEL_RUN=off); fi
    start_candidate "$role"
    env "${env[@]}" "$PROXY" proxy --listen 127.0.0.1:18080 --primary http://127.0.0.1:19001 \
      --candidate "http://127.0.0.1:${CAND[$role]}" --threads "$PROXY_THREADS" > "$OUT/proxy-$scen.txt" 2>&1 & ppid=$!
    wait_port 18080
    if [ "$scen" = hang ]; then
      ( while kill -0 $ppid 2>/dev/null; do echo "$run $(awk '/VmRSS/{print $2}' /proc/$ppid/status 2>/dev/null)" >> "$OUT/rss.txt"; sleep 1; done ) &
    fi
    [ "$scen" = off_burn ] && start_burners
    run_load "proxy_$scen" 18080
    stop_burners
    kill -TERM $ppid; wait $ppid || true
    stop_candidate
  done
  for scen in $NGINX_SCENARIOS; do
    case $scen in
      plain|plain_burn) nginx_conf "" ;;
      *) nginx_conf "${CAND[$scen]}"; start_candidate "$scen" ;;
    esac
    "$NGINX" -c "$OUT/nginx.conf" -g 'daemon on;' 2>>"$OUT/nginx-error.log"
    wait_port 18081
    [ "$scen" = plain_burn ] && start_burners
    run_load "nginx_$scen" 18081
    stop_burners
    kill -QUIT "$(cat "$OUT/nginx.pid")"; sleep 0.5
    # nginx's old workers may take a moment to finish their connections.
    while pgrep -f "nginx: worker" >/dev/null; do sleep 0.2; done
    stop_candidate
  done
done
echo "load after: $(uptime)" | tee -a "$OUT/machine.txt"

python3 - "$OUT/results.txt" "$OUT/rss.txt" <<'PY'
import sys, statistics as st
rows = {}
order = []
for line in open(sys.argv[1]):
    f = line.split()
    label, kv = f[0], dict(zip(f[1::2], f[2::2]))
    if label not in rows: order.append(label); rows[label] = []
    rows[label].append({k: float(v) for k, v in kv.items()})
med = lambda label, k: st.median(r[k] for r in rows[label])
base = {"proxy": "proxy_off", "nginx": "nginx_plain"}
print("| scenario | req/s | p50 us | p99 us | p999 us | answered / offered | throughput x off | p99 x off |")
print("|---|---|---|---|---|---|---|---|")
for label in order:
    b = base.get(label.split("_")[0])
    b = b if b in rows else None
    tx = f"{med(label,'rps')/med(b,'rps'):.2f}" if b and label != b else ""
    px = f"{med(label,'p99_us')/med(b,'p99_us'):.2f}" if b and label != b else ""
    print(f"| {label} | {med(label,'rps'):.0f} | {med(label,'p50_us'):.0f} | {med(label,'p99_us'):.0f} | {med(label,'p999_us'):.0f} | {med(label,'answered'):.0f} / {med(label,'offered'):.0f} | {tx} | {px} |")
have = lambda *labels: all(l in rows for l in labels)
if have("direct", "proxy_off", "nginx_plain"):
  d = med("direct", "p99_us")
  print(f"\nadded p99 over direct: proxy (shadowing off) {med('proxy_off','p99_us')-d:.0f} us ({med('proxy_off','p99_us')/d:.2f}x), nginx without mirror {med('nginx_plain','p99_us')-d:.0f} us ({med('nginx_plain','p99_us')/d:.2f}x)")
if have("proxy_cpu50", "proxy_off_burn"):
    print(f"CPU-heavy candidate against the burn control (shadowing off, one idle-priority busy loop per core): proxy p99 {med('proxy_cpu50','p99_us')/med('proxy_off_burn','p99_us'):.2f}x")
if have("proxy_off_burn", "nginx_plain_burn"):
    print(f"the burn control raises p99 over the quiet run: proxy {med('proxy_off_burn','p99_us')/med('proxy_off','p99_us'):.2f}x, nginx {med('nginx_plain_burn','p99_us')/med('nginx_plain','p99_us'):.2f}x" if have("proxy_off", "nginx_plain") else "")
rss = [l.split() for l in open(sys.argv[2]) if len(l.split()) == 2]
if rss:
    by = {}
    for run, kb in rss: by.setdefault(run, []).append(int(kb))
    for run, v in by.items():
        print(f"proxy RSS during the hang run {run}: first {v[0]//1024} MiB, max {max(v)//1024} MiB, last {v[-1]//1024} MiB ({len(v)} samples)")
PY
