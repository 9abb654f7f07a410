#!/usr/bin/env bash
# `lamfleet dev` as a user runs it: the embedded stack comes up, kcat lists
# the fleet's topics, a goal submitted with the CLI completes (--wait exits
# 0, a failing goal exits 1), /metrics shows it and passes promtool, the
# probes answer, and Ctrl-C stops everything cleanly.
set -u
LAMFLEET=$1
out=$(mktemp)
trap 'kill -9 $pid 2>/dev/null; rm -f "$out"' EXIT
"$LAMFLEET" -X metrics.port=-1 dev >"$out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  grep -q 'kafka.bootstrap.servers' "$out" && break
  sleep 0.1
done
bs=$(awk '/kafka.bootstrap.servers/ {print $2}' "$out")
[ -n "$bs" ] || { echo "no bootstrap servers printed:"; cat "$out"; exit 1; }

topics=$(kcat -b "$bs" -L -m 10)
for t in goals actions.proposed actions.approved observations results dlq \
  approvals.pending approvals.decisions; do
  echo "$topics" | grep -q "topic \"lamfleet.$t\" with 6 partitions" \
    || { echo "kcat -L does not list lamfleet.$t:"; echo "$topics"; exit 1; }
done

trace=$("$LAMFLEET" -b "$bs" goal submit "greet kcat" --tenant ops --wait --timeout 60)
rc=$?
echo "$trace"
[ $rc -eq 0 ] || { echo "goal submit --wait exited $rc"; cat "$out"; exit 1; }
echo "$trace" | grep -q 'result     completed after 3 steps: greeted kcat' || exit 1

"$LAMFLEET" -b "$bs" goal submit "drop database x" --wait --timeout 60 >/dev/null
rc=$?
[ $rc -eq 1 ] || { echo "a failed goal should exit 1, got $rc"; exit 1; }

"$LAMFLEET" -b "$bs" goal submit "" 2>/dev/null
[ $? -eq 2 ] || { echo "an empty goal should be a usage error"; exit 1; }

port=$(sed -n 's|.*metrics on http://[0-9.]*:\([0-9]*\)/metrics.*|\1|p' "$out")
[ -n "$port" ] || { echo "no metrics port in the log:"; cat "$out"; exit 1; }
curl -sf "http://127.0.0.1:$port/healthz" | grep -qx ok || { echo "healthz"; exit 1; }
curl -sf "http://127.0.0.1:$port/readyz" | grep -qx ready || { echo "readyz"; exit 1; }
metrics=$(curl -sf "http://127.0.0.1:$port/metrics") || { echo "no /metrics"; exit 1; }
echo "$metrics" | promtool check metrics || { echo "$metrics"; exit 1; }
# greet kcat: three approved actions, three executions; the failed goal's
# drop_database was rejected as an unknown action
for want in 'lamfleet_verdicts_total{kind="guard",worker="[^"]*",decision="approved"} 3' \
  'lamfleet_executions_total{kind="executor",worker="[^"]*",status="succeeded"} 3' \
  'lamfleet_records_consumed_total{kind="planner",worker="[^"]*",topic="lamfleet.goals"} 2'; do
  echo "$metrics" | grep -q "^$want\$" || { echo "not in /metrics: $want"; echo "$metrics" | grep -v '^#'; exit 1; }
done

kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 0 ] || { echo "lamfleet dev exited $rc after SIGINT"; cat "$out"; exit 1; }
grep -q 'stopping: leaving the group' "$out" || { cat "$out"; exit 1; }
echo "dev stack OK"
