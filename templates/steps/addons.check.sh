if ! cluster_up; then
  reason "cluster not running yet"
  exit 1
fi
# Enabled in minikube's profile (`minikube addons enable|disable` saves it there: SetAndSave in
# minikube's pkg/addons/addons.go sets ClusterConfig.Addons[name] and writes config.json), and
# for the addons that run a deployment, that deployment present (`addons disable` removes it).
python3 -c '
import json, sys
DEPLOYMENTS = {"metrics-server": "kube-system/metrics-server",
               "dashboard": "kubernetes-dashboard/kubernetes-dashboard"}
try:
    with open(sys.argv[1]) as f:
        enabled = json.load(f).get("Addons") or {}
except (OSError, ValueError):
    enabled = {}
with open(sys.argv[2]) as f:
    deployed = {l.split("\t")[1] for l in f if l.startswith("deploy\t")}
off = [a for a in sys.argv[3:] if enabled.get(a) is not True or DEPLOYMENTS.get(a, "") not in deployed | {""}]
for a in off:
    print("::reason addon %s is not enabled" % a)
sys.exit(1 if off else 0)
' "$(profile_config)" "$lp_cache/kube.tsv"{% for a in cfg.cluster.addons %} {{ a | q }}{% endfor %}
