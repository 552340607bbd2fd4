{% include "steps/cluster.lib.sh" %}
# minikube status exits 85 when no cluster exists at all (stopped ones still count).
if [ ! -x "$mk" ]; then
  echo "::unchanged"
  exit 0
fi
rc=0
"$mk" status >/dev/null 2>&1 || rc=$?
if [ "$rc" -eq 85 ]; then
  echo "::unchanged"
  exit 0
fi
"$mk" delete
