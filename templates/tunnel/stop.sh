#!/bin/bash
# labprov tunnel: stop the forwarders this run started (and only those). Each was started
# with setsid, so its pid is its process group: signalling the group also stops helpers it
# runs (minikube dashboard's kubectl proxy). SIGINT first: minikube tunnel cleans up its route
# and the ingress addresses only on SIGINT.
set -uo pipefail
dir="{{ dir }}"
{% include "tunnel/lib.sh" %}
for name in{% for n in names %} {{ n | q }}{% endfor %}; do
  pidf="$dir/$name.pid"
  if [ -s "$pidf" ]; then
    pid=$(cat "$pidf")
    for sig in INT TERM KILL; do
      alive "$pid" || break
      kill -s "$sig" -- "-$pid" 2>/dev/null || kill -s "$sig" "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do
        alive "$pid" || break
        sleep 0.1
      done
    done
    rm -f "$pidf"
  fi
done
