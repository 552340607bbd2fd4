{% include "steps/cluster.lib.sh" %}
if cluster_running; then
  echo "::unchanged"
  exit 0
fi
# minikube's docker driver talks to the daemon as this user: say so plainly if it cannot.
if ! err=$(docker version 2>&1 >/dev/null); then
  echo "docker is not usable by $(id -un): $(printf '%s' "$err" | tail -n 1)" >&2
  exit 1
fi
extra=()
# The docker driver refuses root unless forced (minikube's DRV_AS_ROOT).
if [ "$(id -u)" -eq 0 ]; then
  extra+=(--force)
fi
# labprov resolves cluster.cpus/memory = "auto" for this host before rendering; "auto" left
# here means it could not measure (a cluster exists): minikube keeps that cluster's settings.
{% if cfg.cluster.cpus is number %}extra+=(--cpus={{ cfg.cluster.cpus }})
{% endif %}{% if cfg.cluster.memory is number %}extra+=(--memory={{ cfg.cluster.memory }}mb)
{% endif %}"$mk" start --driver={{ cfg.cluster.driver | q }} --cni={{ cfg.cluster.cni | q }} \
  --kubernetes-version={{ cfg.cluster.kubernetes_version | q }} "${extra[@]}"
{% if cfg.cluster.cpus is number and cfg.cluster.memory is number -%}
mib={{ cfg.cluster.memory }}
if [ $((mib % 1024)) -eq 0 ]; then mem="$((mib / 1024)) GiB"; else mem="$mib MiB"; fi
did "started minikube {{ cfg.versions.minikube }} with {{ cfg.cluster.cni }} ({{ cfg.cluster.cpus }} CPUs, $mem)"
{%- else -%}
did "started minikube {{ cfg.versions.minikube }} with {{ cfg.cluster.cni }} (the existing cluster's CPUs and memory)"
{%- endif %}
