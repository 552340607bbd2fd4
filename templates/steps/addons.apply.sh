{% include "steps/cluster.lib.sh" %}
enabled=$("$mk" addons list -o json)
now=''
for addon in{% for a in cfg.cluster.addons %} {{ a | q }}{% endfor %}; do
  if ! printf '%s' "$enabled" | python3 -c '
import json, sys
sys.exit(0 if (json.load(sys.stdin).get(sys.argv[1]) or {}).get("Status") == "enabled" else 1)
' "$addon"; then
    "$mk" addons enable "$addon"
    now="${now:+$now, }$addon"
  fi
done
if [ -n "$now" ]; then
  did "enabled $now"
fi
