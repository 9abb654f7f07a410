#!/usr/bin/env bash
# The fleet on a Redis that speaks only TLS and asks for client
# certificates and a password (as managed Redis services do): the sample
# goals all complete through rediss://, and their keys are in that Redis.
set -u
LAMFLEET=$1
TESTS=$2
dir=$(mktemp -d)
pid=
trap 'kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; [ -f "$dir/redis.log" ] && tail -5 "$dir/redis.log"; exit 1; }
sh "$TESTS/tls_certs.sh" "$dir" || fail "no certificates"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port 0 --tls-port "$port" --bind 127.0.0.1 --save '' --appendonly no \
  --tls-cert-file "$dir/server.pem" --tls-key-file "$dir/server.key" \
  --tls-ca-cert-file "$dir/ca.pem" --tls-auth-clients yes \
  --requirepass tls-test-pw --dir "$dir" >"$dir/redis.log" 2>&1 &
pid=$!
cli() { redis-cli --tls --cacert "$dir/ca.pem" --cert "$dir/client.pem" \
  --key "$dir/client.key" -p "$port" -a tls-test-pw --no-auth-warning "$@"; }
for _ in $(seq 100); do [ "$(cli PING 2>/dev/null)" = PONG ] && break; sleep 0.05; done
[ "$(cli PING)" = PONG ] || fail "redis-server with TLS did not start"

"$LAMFLEET" -X "redis.url=rediss://:tls-test-pw@127.0.0.1:$port" \
  -X "redis.tls.ca.file=$dir/ca.pem" -X "redis.tls.cert.file=$dir/client.pem" \
  -X "redis.tls.key.file=$dir/client.key" demo >"$dir/demo" 2>&1
rc=$?
summary=$(grep 'sample goals behaved as expected' "$dir/demo")
n=$(echo "$summary" | awk '{print $1, $3}')
[ $rc -eq 0 ] && [ -n "$n" ] && [ "${n% *}" = "${n#* }" ] || { cat "$dir/demo"; fail "demo over TLS (rc $rc): $summary"; }
grep -q 'redis rediss://:\*\*\*@127.0.0.1' "$dir/demo" || { head -3 "$dir/demo"; fail "banner does not show the TLS Redis"; }
grep -q tls-test-pw "$dir/demo" && fail "the password was shown"
keys=$(cli --scan --pattern 'lamfleet:*' | wc -l)
[ "$keys" -gt 0 ] || fail "no lamfleet keys in the TLS Redis"
echo "ok: $summary; $keys keys in the TLS-only Redis"
