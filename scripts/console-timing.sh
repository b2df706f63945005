#!/bin/sh
# Times the console overview over HTTP against `frontdesk run` on a seeded store.
# usage: scripts/console-timing.sh DATABASE_URL [runs]   (BIN=path/to/frontdesk; needs curl,
# run from a directory with the faq/ knowledge base, e.g. the repository)
set -e
BIN=${BIN:-frontdesk}; RUNS=${2:-5}; ADDR=127.0.0.1:8099; J=$(mktemp)
FRONTDESK_DATABASE_URL=$1 FRONTDESK_ADMIN_TOKEN=bench FRONTDESK_HTTP_ADDR=$ADDR $BIN run >/dev/null 2>&1 &
PID=$!; trap 'kill $PID; rm -f $J' EXIT
for i in $(seq 50); do curl -sf http://$ADDR/healthz >/dev/null 2>&1 && break; sleep 0.2; done
CSRF=$(curl -s -c $J http://$ADDR/console/login | grep -o 'name="csrf" value="[^"]*"' | sed 's/.*value="//;s/"//')
curl -s -b $J -c $J -o /dev/null -d "csrf=$CSRF&name=bench&token=bench" http://$ADDR/console/login
for p in today 7d 30d; do
  for i in $(seq $RUNS); do
    curl -s -b $J -o /dev/null -w "$p %{http_code} %{time_total}\n" "http://$ADDR/console?period=$p"
  done
done
