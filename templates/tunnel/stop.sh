#!/bin/bash
# labprov tunnel: stop the forwarders this run started (and only those).
set -uo pipefail
dir="{{ dir }}"
for name in{% for n in names %} {{ n | q }}{% endfor %}; do
  pidf="$dir/$name.pid"
  if [ -s "$pidf" ]; then
    pid=$(cat "$pidf")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidf"
  fi
done
