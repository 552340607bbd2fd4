state=$(node_state)
case "$state" in
  running) ;;
  paused)
    # Nothing labprov should undo on its own: someone froze the node on purpose.
    reason "the minikube node container is paused: 'docker unpause $node' (or 'minikube unpause') resumes it"
    exit 2
    ;;
  *)
    if [ -z "$state" ]; then
      reason "no running minikube cluster"
    else
      reason "no running minikube cluster (its node container is $state)"
    fi
    if [ "$(nproc)" -lt {{ cfg.cluster.cpus }} ]; then
      reason "the host has $(nproc) CPUs but cluster.cpus is {{ cfg.cluster.cpus }}"
      exit 2
    fi
    exit 1
    ;;
esac
# A running cluster built with other settings is reported, never silently recreated.
python3 -c '
import json, sys
want = {"Driver": sys.argv[2], "CPUs": int(sys.argv[3]), "Memory": int(sys.argv[4]),
        "KubernetesVersion": sys.argv[5], "CNI": sys.argv[6]}
try:
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
except (OSError, ValueError):
    sys.exit(0)
kc = cfg.get("KubernetesConfig") or {}
have = {"Driver": cfg.get("Driver"), "CPUs": cfg.get("CPUs"), "Memory": cfg.get("Memory"),
        "KubernetesVersion": kc.get("KubernetesVersion"), "CNI": kc.get("CNI")}
drift = [k for k in want if have[k] is not None and have[k] != want[k]]
for k in drift:
    print("::reason running cluster has %s %s, profile wants %s" % (k, have[k], want[k]))
sys.exit(2 if drift else 0)
' "$(profile_config)" {{ cfg.cluster.driver | q }} {{ cfg.cluster.cpus }} {{ cfg.cluster.memory_mib }} {{ cfg.cluster.kubernetes_version | q }} {{ cfg.cluster.cni | q }} || exit $?
# kubectl comes after the cluster in the lab's order: without it the API server cannot be asked.
if [ -x "$kc" ] && ! kube_read; then
  reason "the cluster's API server does not answer: $(kube_error)"
  exit 1
fi
exit 0
