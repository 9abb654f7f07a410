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

# Under load, the README's walkthrough: 10,000 goals from a file; /metrics
# scraped while they run passes promtool every time; lag --watch returns
# once every group has drained; /metrics then counts every goal.
goals=$(mktemp)
seq 1 10000 | sed 's/^/echo hello /' >"$goals"
"$LAMFLEET" -b "$bs" goal submit --file "$goals" >/dev/null \
  || { echo "goal submit --file failed"; exit 1; }
rm -f "$goals"
scrapes=0
for _ in 1 2 3 4 5; do
  m=$(curl -sf "http://127.0.0.1:$port/metrics") || { echo "no /metrics under load"; exit 1; }
  echo "$m" | promtool check metrics || { echo "promtool under load:"; echo "$m"; exit 1; }
  scrapes=$((scrapes + 1))
  sleep 0.2
done
timeout 240 "$LAMFLEET" -b "$bs" lag --watch 1 --max-lag 0 >/dev/null \
  || { echo "lag did not fall to 0"; "$LAMFLEET" -b "$bs" lag; exit 1; }
metrics=$(curl -sf "http://127.0.0.1:$port/metrics")
echo "$metrics" | promtool check metrics || exit 1
consumed=$(echo "$metrics" | sed -n 's/^lamfleet_records_consumed_total{kind="planner",[^}]*topic="lamfleet.goals"} //p')
results=$(echo "$metrics" | sed -n 's/^lamfleet_records_produced_total{kind="planner",[^}]*topic="lamfleet.results"} //p')
[ "$consumed" = 10002 ] && [ "$results" = 10002 ] \
  || { echo "after 10,000 goals: consumed $consumed goals, produced $results results"; exit 1; }
echo "10,000 goals: $scrapes scrapes under load passed promtool; 10002 goals consumed, 10002 results"

kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 0 ] || { echo "lamfleet dev exited $rc after SIGINT"; cat "$out"; exit 1; }
grep -q 'stopping: leaving the group' "$out" || { cat "$out"; exit 1; }
echo "dev stack OK"
