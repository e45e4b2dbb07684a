#!/usr/bin/env bash
# The fleet-wide promotion gate end to end, with the real parts (issue 15, item 4).
#
# Starts a real Prometheus server (the OS package, installed with apt-get when missing) on
# loopback, scraping two instances of examples/fleet_service.rs every second; both instances
# watch one configuration file (PARALLEL_RUN_CONFIG) asking for a 50% ramp with the gate's
# numbers from Prometheus (gate_source = "prometheus"), with a min_samples no single instance can
# reach alone. Then it checks, polling each instance's /state every 100 ms:
#
#   1. both gates refuse (too few samples across the fleet), then open within one refresh (1 s)
#      of each other, on a fleet-wide count above what one instance's window can hold;
#   2. Prometheus frozen (SIGSTOP): both gates turn "unavailable" (legacy served, no call served
#      by the rewrite) within one refresh of each other, each instance warns once; resumed
#      (SIGCONT): both open again by themselves;
#   3. the rewrite regresses (a file both instances watch): both gates fall back within one
#      refresh of each other, and stay there; the rewrite stops serving.
#
# It prints a timeline of what each instance's snapshot said and exits non-zero on any
# deviation. Everything it started is stopped on exit.
#
# NOT IN CI: the run itself takes about 30 s (plus the first `cargo build --example
# fleet_service`, a few minutes on a cold target directory: the facade's dev-dependencies).
#
#   scripts/fleet-e2e.sh            # KEEP=1 keeps the scratch directory (logs, config, TSDB)
set -euo pipefail
cd "$(dirname "$0")/.."

REFRESH_MS=1000 # [prometheus] refresh below: "one refresh"
RATE=400        # calls/s per instance, every one compared
WINDOW_S=10     # gate_window
MIN_SAMPLES=5000 # > RATE * WINDOW_S: no instance can open alone
T0=$(date +%s%3N)

say() { printf '%s\n' "$*"; }
fail() {
    say "DEVIATION: $*"
    for f in "$WORK"/a.log "$WORK"/b.log "$WORK"/prometheus.log; do
        [ -f "$f" ] && { say "---- tail of $f"; tail -n 15 "$f"; }
    done
    exit 1
}
elapsed() { printf '%6.1fs' "$(( $(date +%s%3N) - T0 ))e-3"; }

for tool in curl jq; do
    command -v "$tool" >/dev/null || { say "needs $tool"; exit 2; }
done
if ! command -v prometheus >/dev/null; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        say "prometheus is missing: install Debian's prometheus package (as root: apt-get install prometheus)"
        exit 2
    fi
    say "== installing prometheus (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    # Where systemd runs, the package has started a server of its own: this run starts its own.
    if command -v systemctl >/dev/null; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
fi
say "== $(prometheus --version 2>&1 | head -n1)"

free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
    else
        echo "$1"
    fi
}
PROM_PORT=$(free_port 19090)
A_PORT=$(free_port 19101)
B_PORT=$(free_port 19102)

WORK=$(mktemp -d -t fleet-e2e.XXXXXX)
PIDS=()
PROM_PID=
cleanup() {
    local status=$?
    [ -n "$PROM_PID" ] && kill -CONT "$PROM_PID" 2>/dev/null || true
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "${KEEP:-0}" = 1 ] || [ "$status" != 0 ]; then
        say "(scratch directory kept: $WORK)"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

say "== building examples/fleet_service.rs"
BUILD0=$(date +%s)
cargo build --quiet --example fleet_service
BIN="${CARGO_TARGET_DIR:-target}/debug/examples/fleet_service"
say "   built in $(( $(date +%s) - BUILD0 ))s"
T0=$(date +%s%3N)

cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: fleet_service
    static_configs:
      - targets: ["127.0.0.1:$A_PORT", "127.0.0.1:$B_PORT"]
EOF
cat >"$WORK/parallel-run.toml" <<EOF
[prometheus]
url = "http://127.0.0.1:$PROM_PORT"
refresh = "1s"
max_age = "3s"
timeout = "500ms"

[experiments."fleet::quote"]
ramp = "50%"
gate_source = "prometheus"
min_match_rate = "99%"
min_samples = $MIN_SAMPLES
gate_window = "${WINDOW_S}s"
EOF

prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
PIDS+=("$PROM_PID")
for name in a b; do
    port=$A_PORT
    [ "$name" = b ] && port=$B_PORT
    PARALLEL_RUN_CONFIG="$WORK/parallel-run.toml" "$BIN" --port "$port" --name "$name" \
        --rate "$RATE" --regress-file "$WORK/regress" >"$WORK/$name.log" 2>&1 &
    PIDS+=("$!")
done
for i in $(seq 100); do
    curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1 && break
    [ "$i" = 100 ] && fail "Prometheus never became ready"
    sleep 0.1
done
say "== Prometheus on 127.0.0.1:$PROM_PORT scraping a (127.0.0.1:$A_PORT) and b (127.0.0.1:$B_PORT) every 1s"
say "   gate: ramp 50%, >= 99% over >= $MIN_SAMPLES compared calls in ${WINDOW_S}s across the fleet;"
say "   one instance compares $RATE calls/s: at most $(( RATE * WINDOW_S )) in its own window"

state() { curl -sf --max-time 1 "http://127.0.0.1:$1/state" 2>/dev/null || echo '{}'; }
port_of() { if [ "$1" = a ]; then echo "$A_PORT"; else echo "$B_PORT"; fi; }
declare -A LAST SEEN_AT
describe() {
    jq -r '[.gate // "-",
            (if .fleet == null then "no fleet reading"
             else "fleet \(.fleet.good // "-")/\(.fleet.compared // "-")"
                  + (if .fleet.age_ms == null then "" else " (\(.fleet.age_ms)ms old)" end)
                  + (if .fleet.error == null then "" else " error: \(.fleet.error)" end) end),
            "ramp \(.ramp // 0)", "served \(.served_by_candidate // 0)", "own compared \(.compared // 0)",
            "wrong answers \(.wrong_served // 0)"] | join("  ")' <<<"$1"
}

# wait_for WHAT GATE TIMEOUT_S: polls both instances until both gates read GATE; prints every
# change of gate; fails after TIMEOUT_S; checks that they got there within one refresh.
wait_for() {
    local what=$1 want=$2 until=$(( $(date +%s%3N) + $3 * 1000 ))
    SEEN_AT=()
    while :; do
        for n in a b; do
            local s gate
            s=$(state "$(port_of "$n")")
            gate=$(jq -r '.gate // "-"' <<<"$s")
            if [ "${LAST[$n]:-}" != "$gate" ]; then
                say "$(elapsed)  $n: $(describe "$s")"
                LAST[$n]=$gate
                SEEN[$n,$gate]=1
            fi
            if [ "$gate" = "$want" ] && [ -z "${SEEN_AT[$n]:-}" ]; then
                SEEN_AT[$n]=$(date +%s%3N)
            fi
        done
        [ -n "${SEEN_AT[a]:-}" ] && [ -n "${SEEN_AT[b]:-}" ] && break
        [ "$(date +%s%3N)" -gt "$until" ] && fail "$what: not both $want within $3s"
        sleep 0.1
    done
    local gap=$(( SEEN_AT[a] - SEEN_AT[b] ))
    gap=${gap#-}
    say "   -> $what: both $want, ${gap}ms apart (one refresh: ${REFRESH_MS}ms)"
    [ "$gap" -le "$REFRESH_MS" ] || fail "$what: ${gap}ms apart, more than one refresh"
    GAPS+=("$what ${gap}ms")
}
declare -A SEEN
GAPS=()
field() { state "$(port_of "$1")" | jq -r "$2"; }
# wait_series WHAT QUERY TIMEOUT_S: until the PromQL QUERY returns one series per instance (a
# dashboard and the alerts see what the snapshots say, once it is scraped).
wait_series() {
    local until=$(( $(date +%s%3N) + $3 * 1000 )) n
    while :; do
        n=$(curl -sf --max-time 2 "http://127.0.0.1:$PROM_PORT/api/v1/query" \
              --data-urlencode "query=$2" | jq '.data.result | length' 2>/dev/null || echo 0)
        [ "$n" = 2 ] && break
        [ "$(date +%s%3N)" -gt "$until" ] && fail "$1: '$2' gave $n series within $3s, want 2"
        sleep 0.2
    done
    say "   -> Prometheus: $1 on both instances"
}

say "== 1. the ramp is asked for; the gate counts the fleet"
wait_for "gate opened" open 90
for n in a b; do
    [ -n "${SEEN[$n,refused]:-}" ] || fail "$n opened without refusing first (too few samples)"
    compared=$(field "$n" '.fleet.compared')
    [ "$compared" -ge "$MIN_SAMPLES" ] || fail "$n opened on $compared fleet samples"
    [ "$compared" -gt $(( RATE * WINDOW_S )) ] ||
        fail "$n: fleet count $compared is no more than one instance's window"
done
served_a=$(field a '.served_by_candidate')
sleep 1
[ "$(field a '.served_by_candidate')" -gt "$served_a" ] || fail "a: the rewrite does not serve"
wait_series "gate open, ramp 50% in force" \
    'parallel_run_gate_status{status="open"} == 1 and on (instance) parallel_run_ramp_ratio == 0.5' 5

say "== 2. Prometheus frozen (SIGSTOP): no fresh reading"
kill -STOP "$PROM_PID"
wait_for "Prometheus unreachable" unavailable 10
sleep 0.5
served_a=$(field a '.served_by_candidate')
served_b=$(field b '.served_by_candidate')
sleep 1.5
[ "$(field a '.served_by_candidate')" = "$served_a" ] || fail "a: the rewrite served while unavailable"
[ "$(field b '.served_by_candidate')" = "$served_b" ] || fail "b: the rewrite served while unavailable"
for n in a b; do
    err=$(field "$n" '.fleet.error // ""')
    [ -n "$err" ] || fail "$n: no error in the snapshot while Prometheus is frozen"
    say "   $n's snapshot: $(field "$n" '.gate_detail')"
done
kill -CONT "$PROM_PID"
say "$(elapsed)  Prometheus resumed (SIGCONT)"
wait_for "Prometheus back" open 15
for n in a b; do
    warned=$(grep -c "no fresh reading from Prometheus" "$WORK/$n.log" || true)
    [ "$warned" = 1 ] || fail "$n warned $warned times about the outage (want 1)"
    grep -q "reads Prometheus again" "$WORK/$n.log" || fail "$n: no line when Prometheus came back"
done

say "== 3. the rewrite regresses (one call in five disagrees)"
touch "$WORK/regress"
say "$(elapsed)  regressed"
wait_for "regression" fell_back 20
sleep 0.5
wrong_a=$(field a '.wrong_served')
served_a=$(field a '.served_by_candidate')
sleep 2
for n in a b; do
    [ "$(field "$n" '.gate')" = fell_back ] || fail "$n did not stay fell_back"
    say "   $n's snapshot: $(field "$n" '.gate_detail')"
done
[ "$(field a '.served_by_candidate')" = "$served_a" ] || fail "a: the rewrite still serves"
[ "$(field a '.wrong_served')" = "$wrong_a" ] || fail "a: callers still get wrong answers"
wait_series "gate fell back, 50% still requested" \
    'parallel_run_gate_status{status="fell_back"} == 1 and on (instance) parallel_run_ramp_requested_ratio == 0.5' 5
for n in a b; do
    grep -q "fell back from 50% to 0%: fleet-wide match rate (Prometheus)" "$WORK/$n.log" ||
        fail "$n: no fall-back warning"
done

say "== all as expected in $(elapsed | tr -d ' '): ${GAPS[*]}"
