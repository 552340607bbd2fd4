{% include "steps/cluster.lib.sh" %}
kc={{ cfg.paths.bin_dir | q }}/kubectl
ictl={{ cfg.paths.bin_dir | q }}/istioctl
if ! cluster_running || [ ! -x "$kc" ]; then
  echo "::unchanged"
  exit 0
fi
changed=0
if "$kc" get namespace istio-system >/dev/null 2>&1; then
  if [ -x "$ictl" ]; then
    "$ictl" uninstall --purge -y
  fi
  # istioctl leaves the namespace; the guide's clean-up deletes it.
  "$kc" delete namespace istio-system --ignore-not-found
  changed=1
fi
if [ -n "$("$kc" get namespace {{ cfg.istio.injection_namespace | q }} -o 'jsonpath={.metadata.labels.istio-injection}' 2>/dev/null)" ]; then
  "$kc" label namespace {{ cfg.istio.injection_namespace | q }} istio-injection-
  changed=1
fi
if [ "$changed" -eq 0 ]; then
  echo "::unchanged"
fi
