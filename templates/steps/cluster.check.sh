{% include "steps/cluster.lib.sh" %}
if ! cluster_running; then
  reason "no running minikube cluster"
  if [ "$(nproc)" -lt {{ cfg.cluster.cpus }} ]; then
    reason "the host has $(nproc) CPUs but cluster.cpus is {{ cfg.cluster.cpus }}"
    exit 2
  fi
  exit 1
fi
# A running cluster built with other settings is reported, never silently recreated.
"$mk" profile list -o json 2>/dev/null | python3 -c '
import json, sys
want = {"Driver": sys.argv[1], "CPUs": int(sys.argv[2]), "Memory": int(sys.argv[3]),
        "KubernetesVersion": sys.argv[4], "CNI": sys.argv[5]}
try:
    valid = json.load(sys.stdin).get("valid") or []
except ValueError:
    sys.exit(0)
prof = next((p for p in valid if p.get("Name") == "minikube"), None)
if prof is None:
    sys.exit(0)
cfg = prof.get("Config") or {}
kc = cfg.get("KubernetesConfig") or {}
have = {"Driver": cfg.get("Driver"), "CPUs": cfg.get("CPUs"), "Memory": cfg.get("Memory"),
        "KubernetesVersion": kc.get("KubernetesVersion"), "CNI": kc.get("CNI")}
drift = [k for k in want if have[k] is not None and have[k] != want[k]]
for k in drift:
    print("::reason running cluster has %s %s, profile wants %s" % (k, have[k], want[k]))
sys.exit(2 if drift else 0)
' {{ cfg.cluster.driver | q }} {{ cfg.cluster.cpus }} {{ cfg.cluster.memory_mib }} {{ cfg.cluster.kubernetes_version | q }} {{ cfg.cluster.cni | q }}
