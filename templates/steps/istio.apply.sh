kc={{ cfg.paths.bin_dir | q }}/kubectl
ictl={{ cfg.paths.bin_dir | q }}/istioctl
image=$("$kc" -n istio-system get deployment istiod -o 'jsonpath={.spec.template.spec.containers[0].image}' 2>/dev/null || true)
case "$image" in
  *:{{ cfg.versions.istio }} | *:{{ cfg.versions.istio }}-*) ;;
  *)
    "$ictl" install --set profile={{ cfg.istio.profile | q }} -y
    if [ -n "$image" ]; then
      did "installed Istio {{ cfg.versions.istio }} ({{ cfg.istio.profile }}) over ${image##*:}"
    else
      did "installed Istio {{ cfg.versions.istio }} ({{ cfg.istio.profile }})"
    fi
    ;;
esac
# The guide labels `default`, which always exists; another injection namespace (where the
# profile puts Bookinfo) is created first, or the label has nothing to land on.
if ! "$kc" get namespace {{ cfg.istio.injection_namespace | q }} >/dev/null 2>&1; then
  "$kc" create namespace {{ cfg.istio.injection_namespace | q }}
  did "created namespace {{ cfg.istio.injection_namespace }}"
fi
# kubectl says `namespace/NAME labeled`, or `not labeled` when the label was already there.
out=$("$kc" label namespace {{ cfg.istio.injection_namespace | q }} istio-injection=enabled --overwrite)
printf '%s\n' "$out"
case "$out" in
  *" not labeled"*) ;;
  *) did "labelled {{ cfg.istio.injection_namespace }} for injection" ;;
esac
