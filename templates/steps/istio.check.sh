if ! cluster_up; then
  reason "cluster not running yet"
  exit 1
fi
rc=0
image=$(kube_field deploy istio-system/istiod)
case "$image" in
  *:{{ cfg.versions.istio }} | *:{{ cfg.versions.istio }}-*) ;;
  "") reason "Istio is not installed in the cluster"; rc=1 ;;
  *) reason "istiod runs $image, Istio {{ cfg.versions.istio }} wanted"; rc=1 ;;
esac
label=$(kube_field ns {{ cfg.istio.injection_namespace | q }} 4)
if [ "$label" != enabled ]; then
  reason "namespace {{ cfg.istio.injection_namespace }} is not labelled istio-injection=enabled"
  rc=1
fi
exit "$rc"
