{% include "steps/cluster.lib.sh" %}
if ! cluster_running; then
  reason "cluster not running yet"
  exit 1
fi
"$mk" addons list -o json 2>/dev/null | python3 -c '
import json, sys
try:
    have = json.load(sys.stdin)
except ValueError:
    have = {}
off = [a for a in sys.argv[1:] if (have.get(a) or {}).get("Status") != "enabled"]
for a in off:
    print("::reason addon %s is not enabled" % a)
sys.exit(1 if off else 0)
'{% for a in cfg.cluster.addons %} {{ a | q }}{% endfor %}
