#!/bin/bash
# labprov tunnel: make sure the `{{ name }}` forwarder runs on this host, started detached
# (it must outlive this SSH channel), with its pid recorded so labprov can stop it later.
set -euo pipefail
dir="{{ dir }}"
# The forwarders' pids and logs are labprov's state: its owner's alone.
umask 077
mkdir -p "$dir"
chmod 0700 "$(dirname "$(dirname "$dir")")" "$(dirname "$dir")" "$dir"
pidf="$dir/{{ name }}.pid"
{% include "tunnel/lib.sh" %}
log="$dir/{{ name }}.log"
if [ -s "$pidf" ] && alive "$(cat "$pidf")"; then
  echo "::running $(cat "$pidf")"
  exit 0
fi
: >"$log"
setsid nohup {{ cmd }} >"$log" 2>&1 </dev/null &
echo "$!" >"$pidf"
{%- if not ready %}
# Nothing to wait for in its output: alive after a moment is started.
sleep 0.5
if alive "$(cat "$pidf")"; then
  echo "::started $(cat "$pidf")"
  exit 0
fi
echo "the {{ name }} forwarder exited: $(tail -n 3 "$log")" >&2
rm -f "$pidf"
exit 1
{%- else %}
for _ in $(seq 1 150); do
  if grep -q {{ ready | q }} "$log"; then
    echo "::started $(cat "$pidf")"
    exit 0
  fi
  if ! alive "$(cat "$pidf")"; then
    echo "the {{ name }} forwarder exited: $(tail -n 3 "$log")" >&2
    rm -f "$pidf"
    exit 1
  fi
  sleep 0.1
done
echo "the {{ name }} forwarder was not ready after 15s: $(tail -n 3 "$log")" >&2
exit 1
{%- endif %}
