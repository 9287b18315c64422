#!/usr/bin/env bash
# Checks every CLI flag is explained in --help, runs the README's first command, waits
# until the federation is up, runs the API explorer checks (schemathesis, generated client,
# Swagger UI in Chromium) and walks the README's tour against it, then stops it with Ctrl-C
# (SIGINT) and checks everything exited.
set -euo pipefail
cd "$(dirname "$0")/../.."
log=$(mktemp)
cargo build --release --bin federation --bin gateway --bin agency-node
python3 tests/smoke/cli_help.py target/release
target/release/federation up >"$log" 2>&1 &
up=$!
trap 'kill -INT $up 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  grep -q "Press Ctrl-C" "$log" && break
  kill -0 $up 2>/dev/null || { cat "$log"; echo "federation up exited early"; exit 1; }
  sleep 1
done
grep -q "Press Ctrl-C" "$log" || { cat "$log"; echo "federation up did not come up"; exit 1; }
grep -E "^(Seeded|The dev federation is up|API docs)" "$log"
# Before the tour: the tour stops the police node on purpose.
bash tests/smoke/api_explorer.sh .federation
python3 tests/smoke/readme_tour.py .federation
kill -INT $up
for _ in $(seq 1 20); do kill -0 $up 2>/dev/null || break; sleep 1; done
if kill -0 $up 2>/dev/null; then echo "federation up did not stop on Ctrl-C"; exit 1; fi
if pgrep -f "federation run-(node|gateway)" >/dev/null; then echo "services left running"; exit 1; fi
grep -q "^Stopped." "$log" && echo "federation stopped cleanly"
