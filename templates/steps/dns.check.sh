{% include "steps/dns.lib.sh" %}
if ! cluster_up; then
  reason "cluster not running yet"
  exit 1
fi
if ! node_dns_ok; then
  reason "the minikube node cannot resolve {{ cfg.dns.probe_host }}"
  exit 1
fi
exit 0
