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
    # What it will be measured against: the facts step reports the runtime's CPUs and memory.
    exit 1
    ;;
esac
# A running cluster built with other settings is reported, never silently recreated.
python3 -c '
import json, sys
# "auto" (cluster.cpus/memory) accepts what the running cluster has: it fits, being there.
want = {"Driver": sys.argv[2], "CPUs": sys.argv[3], "Memory": sys.argv[4],
        "KubernetesVersion": sys.argv[5], "CNI": sys.argv[6]}
want = {k: (int(v) if k in ("CPUs", "Memory") and v != "auto" else v) for k, v in want.items()}
try:
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
except (OSError, ValueError):
    sys.exit(0)
kc = cfg.get("KubernetesConfig") or {}
have = {"Driver": cfg.get("Driver"), "CPUs": cfg.get("CPUs"), "Memory": cfg.get("Memory"),
        "KubernetesVersion": kc.get("KubernetesVersion"), "CNI": kc.get("CNI")}
if have["CPUs"] is not None and have["Memory"] is not None:
    print("::fact cluster_cpus=%s" % have["CPUs"])
    print("::fact cluster_memory_mb=%s" % have["Memory"])
drift = [k for k in want if have[k] is not None and want[k] != "auto" and have[k] != want[k]]
for k in drift:
    print("::reason running cluster has %s %s, profile wants %s" % (k, have[k], want[k]))
sys.exit(2 if drift else 0)
' "$(profile_config)" {{ cfg.cluster.driver | q }} {{ cfg.cluster.cpus }} {{ cfg.cluster.memory }} {{ cfg.cluster.kubernetes_version | q }} {{ cfg.cluster.cni | q }} || exit $?
# kubectl comes after the cluster in the lab's order: without it the API server cannot be asked.
if [ -x "$kc" ] && ! kube_read; then
  reason "the cluster's API server does not answer: $(kube_error)"
  exit 1
fi
exit 0
