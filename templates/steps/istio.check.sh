kc={{ cfg.paths.bin_dir | q }}/kubectl
{% include "steps/cluster.lib.sh" %}
if ! cluster_running; then
  reason "cluster not running yet"
  exit 1
fi
rc=0
image=$("$kc" -n istio-system get deployment istiod -o 'jsonpath={.spec.template.spec.containers[0].image}' 2>/dev/null || true)
case "$image" in
  *:{{ cfg.versions.istio }} | *:{{ cfg.versions.istio }}-*) ;;
  "") reason "Istio is not installed in the cluster"; rc=1 ;;
  *) reason "istiod runs $image, Istio {{ cfg.versions.istio }} wanted"; rc=1 ;;
esac
label=$("$kc" get namespace {{ cfg.istio.injection_namespace | q }} -o 'jsonpath={.metadata.labels.istio-injection}' 2>/dev/null || true)
if [ "$label" != enabled ]; then
  reason "namespace {{ cfg.istio.injection_namespace }} is not labelled istio-injection=enabled"
  rc=1
fi
exit "$rc"
