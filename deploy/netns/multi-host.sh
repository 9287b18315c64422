#!/usr/bin/env bash
# Multi-host test (issue #7): the gateway and each agency node run as separate hosts, each
# in its own Linux network namespace, joined to the gateway's host by its own veth link
# (10.77.<n>.0/24; addresses exist only inside the namespaces). Then one host is cut off
# (its link goes down) and the view must still answer, with that agency `unavailable` and
# every other agency `ok`; when the link comes back, so does the agency.
#
# One node (REPLICA, default social-care) also runs a second replica on a host of its
# own; the directory lists both addresses and the node's certificate names both hosts.
# Every node keeps its data on PostgreSQL, reached from each namespace through the
# server's Unix socket (network namespaces do not separate the file system). Then each
# of the two replica hosts is cut off in turn, and that agency's section must stay `ok`.
#
# Needs root, iproute2 and curl (installed from Debian's packages if missing).
#   deploy/netns/multi-host.sh                 # builds target/release/federation if needed
#   FEDERATION_BIN=path/to/federation deploy/netns/multi-host.sh
# Environment: CUT (node to cut off, default health), REPLICA (node run on two hosts,
# default social-care), PGHOST (PostgreSQL's socket folder, default /var/run/postgresql;
# the role postgres must be trusted there), KEEP=1 (keep the work folder).
set -euo pipefail
cd "$(dirname "$0")/../.."

[ "$(id -u)" = 0 ] || { echo "multi-host: needs root (ip netns)"; exit 1; }
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
command -v psql >/dev/null || need+=(postgresql-client)
if [ ${#need[@]} -gt 0 ]; then apt-get update && apt-get install -y "${need[@]}"; fi

BIN=${FEDERATION_BIN:-target/release/federation}
if [ ! -x "$BIN" ]; then cargo build --release --bin federation; BIN=target/release/federation; fi
BIN=$(realpath "$BIN")

NODES=(school-a school-b school-c social-care social-care-b health police early-help virtual-school)
CUT=${CUT:-health}
REPLICA=${REPLICA:-social-care}
export PGHOST=${PGHOST:-/var/run/postgresql}
PGSERVER=postgres://postgres@
psql "$PGSERVER/postgres" -tAc 'SELECT 1' >/dev/null ||
  { echo "multi-host: no PostgreSQL on the socket in $PGHOST"; exit 1; }
P=cvmh$$            # namespace and link prefix, unique to this run
GW=$P-gw
WORK=$(mktemp -d)
PIDS=()

cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do ip netns del "$ns"; done
  if [ -f "$WORK/layout.env" ] && [ "${KEEP:-0}" != 1 ]; then
    for url in $(grep '^DATABASE_URL_' "$WORK/layout.env" | cut -d= -f2-); do
      psql "$PGSERVER/postgres" -qc "DROP DATABASE IF EXISTS \"${url##*/}\" WITH (FORCE)"
    done
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() { echo "multi-host: FAIL: $*"; for f in "$WORK"/logs/*.log; do echo "== $f"; tail -n 20 "$f"; done; exit 1; }

echo "== hosts"
ip netns add "$GW"
ip -n "$GW" link set lo up
ip -n "$GW" addr add 10.77.0.1/32 dev lo
# A link whose other end went down takes its routes with it, as a cut cable would.
ip netns exec "$GW" sh -c "echo 1 > /proc/sys/net/ipv4/conf/all/ignore_routes_with_linkdown"
HOST_ARGS=()
i=1
for node in "${NODES[@]}"; do
  ns=$P-$node
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add "$P-g$i" type veth peer name "$P-n$i"
  ip link set "$P-g$i" netns "$GW"
  ip link set "$P-n$i" netns "$ns"
  ip -n "$GW" link set "$P-g$i" name "to-$i"
  ip -n "$ns" link set "$P-n$i" name eth0
  ip -n "$GW" addr add "10.77.$i.1/24" dev "to-$i"
  ip -n "$ns" addr add "10.77.$i.2/24" dev eth0
  ip -n "$GW" link set "to-$i" up
  ip -n "$ns" link set eth0 up
  HOST_ARGS+=(--node-host "$node=10.77.$i.2")
  echo "$node: host $ns, 10.77.$i.2"
  i=$((i + 1))
done
# The second replica's host, on a link of its own.
RNS=$P-replica
ip netns add "$RNS"
ip -n "$RNS" link set lo up
ip link add "$P-g$i" type veth peer name "$P-n$i"
ip link set "$P-g$i" netns "$GW"
ip link set "$P-n$i" netns "$RNS"
ip -n "$GW" link set "$P-g$i" name "to-$i"
ip -n "$RNS" link set "$P-n$i" name eth0
ip -n "$GW" addr add "10.77.$i.1/24" dev "to-$i"
ip -n "$RNS" addr add "10.77.$i.2/24" dev eth0
ip -n "$GW" link set "to-$i" up
ip -n "$RNS" link set eth0 up
HOST_ARGS+=(--replica-host "$REPLICA=10.77.$i.2")
echo "$REPLICA (second replica): host $RNS, 10.77.$i.2"
echo "gateway: host $GW, 10.77.0.1"

echo "== lay out (per-host addresses in the directory and in every certificate)"
"$BIN" layout --dir "$WORK" --children 300 --gateway-host 10.77.0.1 --gateway-port 48443 \
  --first-node-port 49101 --node-timeout-ms 2000 --database "postgres=$PGSERVER" "${HOST_ARGS[@]}"
# shellcheck disable=SC1091
source "$WORK/layout.env"
mkdir -p "$WORK/logs"

echo "== start every service on its own host"
for node in "${NODES[@]}"; do
  var=NODE_CONFIG_$(echo "$node" | tr 'a-z-' 'A-Z_')
  ip netns exec "$P-$node" "$BIN" run-node --config "${!var}" >"$WORK/logs/$node.log" 2>&1 &
  PIDS+=($!)
done
ip netns exec "$GW" "$BIN" run-gateway --config "$GATEWAY_CONFIG" >"$WORK/logs/gateway.log" 2>&1 &
PIDS+=($!)
RVAR=$(echo "$REPLICA" | tr 'a-z-' 'A-Z_')
RCONFIG=NODE_CONFIG_$RVAR
RURL=NODE_REPLICA_URL_${RVAR}_1
RPORT=${!RURL}
RPORT=${RPORT##*:}
# The same configuration and database; it listens on its own host's address.
AGENCY_NODE__SERVER__LISTEN="0.0.0.0:$RPORT" \
  ip netns exec "$RNS" "$BIN" run-node --config "${!RCONFIG}" >"$WORK/logs/$REPLICA-2.log" 2>&1 &
PIDS+=($!)

in_gw() { ip netns exec "$GW" "$@"; }
ready() { in_gw curl -fsS --max-time 2 --cacert "$CA_CERT" "$1/healthz" >/dev/null 2>&1; }
for _ in $(seq 1 120); do
  all=1
  ready "$GATEWAY_URL" || all=0
  for node in "${NODES[@]}"; do
    var=NODE_URL_$(echo "$node" | tr 'a-z-' 'A-Z_')
    ready "${!var}" || all=0
  done
  ready "${!RURL}" || all=0
  [ $all = 1 ] && break
  sleep 0.5
done
[ $all = 1 ] || fail "services did not become ready"
echo "all 8 hosts answer over TLS"

CTX="purpose=safeguarding&legal_basis=public_task"
search() {
  in_gw curl -sS --max-time 20 --cacert "$CA_CERT" -H "Authorization: Bearer $TOKEN_SOCIAL_WORKER" \
    -H 'content-type: application/json' --data @"$WORK/sample-query.json" \
    "$GATEWAY_URL/v1/children:search?$CTX"
}
view() {
  in_gw curl -sS --max-time 20 --cacert "$CA_CERT" -H "Authorization: Bearer $TOKEN_SOCIAL_WORKER" \
    -w '\n%{http_code} %{time_total}' "$GATEWAY_URL/v1/children/$1/view?$CTX"
}
# Prints "agency=status" per section, then checks: $1 = view output, $2 = expected status of
# the cut node (a '|' list), $3 = what the others must be.
check() {
  python3 - "$1" "$2" "$3" "$CUT" <<'PY'
import json, sys
out, cut_ok, others_ok, cut = sys.argv[1:]
body, tail = out.rsplit("\n", 1)
code, took = tail.split()
view = json.loads(body)
status = {s["agency_id"]: s["status"] for s in view["sections"]}
print(f"  HTTP {code} in {float(took):.2f} s: " + ", ".join(f"{a}={s}" for a, s in sorted(status.items())))
for a, s in status.items():
    if a == cut:
        if s not in cut_ok.split("|"): sys.exit(f"{a} is {s}, expected {cut_ok}")
        why = next(x for x in view["sections"] if x["agency_id"] == a).get("reason")
        if why: print(f"  {a}: {why}")
    elif s not in others_ok.split("|"):
        sys.exit(f"{a} is {s}, expected {others_ok}")
if code != "200" or cut not in status: sys.exit("no view, or the cut agency is missing")
# The gateway's deadline is 2 s per node; generous margin for a loaded machine.
if float(took) > 10: sys.exit(f"view took {took} s")
PY
}

echo "== search and view with every host up"
found=$(search)
ref=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["reference"])' <<<"$found")
out=$(view "$ref") && check "$out" ok "ok|not_found|withheld" || fail "baseline view"

echo "== cut off $CUT (link down on its host)"
ip -n "$P-$CUT" link set eth0 down
# A connection the gateway kept alive to the vanished host can only time out; any new
# one is refused at once (no route), so the status settles on `unavailable`.
out=$(view "$ref") && check "$out" "unavailable|timeout" "ok|not_found|withheld" || fail "view with $CUT cut off"
out=$(view "$ref") && check "$out" unavailable "ok|not_found|withheld" || fail "second view with $CUT cut off"

echo "== link back up"
ip -n "$P-$CUT" link set eth0 up
ok=0
for _ in $(seq 1 20); do
  out=$(view "$ref")
  if check "$out" ok "ok|not_found|withheld" >/dev/null 2>&1; then ok=1; break; fi
  sleep 1
done
[ $ok = 1 ] || fail "$CUT did not come back"
check "$out" ok "ok|not_found|withheld"

echo "== cut off one of $REPLICA's two hosts, then the other"
for host in "$RNS" "$P-$REPLICA"; do
  ip -n "$host" link set eth0 down
  # A connection kept alive to the vanished host can only time out, after half the
  # deadline (two addresses); new ones fail at once. Either way the gateway asks the
  # other replica in time.
  for _ in 1 2 3 4; do
    out=$(view "$ref") && CUT=$REPLICA check "$out" ok "ok|not_found|withheld" ||
      fail "$REPLICA not ok with $host cut off"
  done
  ip -n "$host" link set eth0 up
  sleep 1
done

echo "== graceful stop (SIGTERM)"
for pid in "${PIDS[@]}"; do kill -TERM "$pid"; done
for pid in "${PIDS[@]}"; do
  wait "$pid" || fail "a service exited with status $? on SIGTERM"
done
PIDS=()
echo "multi-host: OK"
