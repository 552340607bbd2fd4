# Helpers of the steps' checks (included once, at the top of check.sh): what several steps ask
# (the node container's state, one read of the cluster) is asked once per check and kept in
# $lp_cache for the steps after it. They ask Docker and the API server directly: no minikube
# process, whose status and ssh open an SSH session into the node each time.
kc={{ cfg.paths.bin_dir | q }}/kubectl
# minikube names the profile's node container after the profile; labprov uses the default one.
node=minikube
# minikube's home, as pkg/minikube/localpath.MiniPath() finds it.
mini_home() {
  local h=${MINIKUBE_HOME:-}
  h=${h%/}
  if [ -z "$h" ]; then
    printf '%s/.minikube' "$HOME"
  elif [ "${h##*/}" != .minikube ] && [ -e "$h/.minikube" ]; then
    printf '%s/.minikube' "$h"
  else
    printf '%s' "$h"
  fi
}
# The profile minikube wrote at start (pkg/minikube/config ClusterConfig: CPUs, Memory, Driver,
# KubernetesConfig.KubernetesVersion and .CNI, Addons), read as a file: no minikube process.
profile_config() {
  printf '%s/profiles/%s/config.json' "$(mini_home)" "$node"
}
# The node container's state as Docker reports it (running, paused, exited, ...; empty when
# there is none or Docker cannot be asked): what `minikube status` asks Docker first.
node_state() {
  if [ ! -e "$lp_cache/node" ]; then
    docker container inspect --format '{% raw %}{{.State.Status}}{% endraw %}' "$node" >"$lp_cache/node" 2>/dev/null ||
      : >"$lp_cache/node"
  fi
  local s=''
  read -r s <"$lp_cache/node" || true
  printf '%s' "$s"
}
# One read of the cluster for every step after it: namespaces (uid, injection label) and
# deployments (first image) of all namespaces, as tab-separated lines in $lp_cache/kube.tsv.
# Fails when the API server does not answer in time (kubectl's error in $lp_cache/kube.err).
kube_read() {
  if [ ! -e "$lp_cache/kube.rc" ]; then
    local rc=0
    if [ ! -x "$kc" ]; then
      echo "kubectl is not installed" >"$lp_cache/kube.err"
      rc=1
    elif "$kc" get namespaces,deployments --all-namespaces -o json --request-timeout=20s \
      >"$lp_cache/kube.json" 2>"$lp_cache/kube.err"; then
      python3 -c '
import json, sys
for o in json.load(open(sys.argv[1])).get("items") or []:
    m = o.get("metadata") or {}
    if o.get("kind") == "Namespace":
        lab = (m.get("labels") or {}).get("istio-injection", "")
        print("ns\t%s\t%s\t%s" % (m.get("name", ""), m.get("uid", ""), lab))
    elif o.get("kind") == "Deployment":
        cs = (((o.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
        print("deploy\t%s/%s\t%s" % (m.get("namespace", ""), m.get("name", ""), cs[0].get("image", "")))
' "$lp_cache/kube.json" >"$lp_cache/kube.tsv" || rc=1
    else
      rc=1
    fi
    echo "$rc" >"$lp_cache/kube.rc"
  fi
  local rc=1
  read -r rc <"$lp_cache/kube.rc" || true
  [ "$rc" = 0 ]
}
# What kubectl said when the API server did not answer (its last line).
kube_error() {
  tail -n 1 "$lp_cache/kube.err" 2>/dev/null
}
# The node runs and its API server answers.
cluster_up() {
  [ "$(node_state)" = running ] && kube_read
}
# Field 3 of the line of kind $1 named $2 (ns NAME: uid; deploy NS/NAME: image); field $3 if given.
kube_field() {
  awk -F '\t' -v k="$1" -v n="$2" -v f="${3:-3}" '$1 == k && $2 == n { print $f; exit }' "$lp_cache/kube.tsv"
}
