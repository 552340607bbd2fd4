{% include "steps/cluster.lib.sh" %}
{% include "steps/dns.lib.sh" %}
if node_dns_ok; then
  echo "::unchanged"
  exit 0
fi
# Docker bind-mounts the node's resolv.conf, so rewrite it in place (tee), never by rename;
# keep the first backup so a rerun never overwrites the original.
"$mk" ssh -- {{ node_fix | q }}
if ! node_dns_ok; then
  echo "the minikube node still cannot resolve {{ cfg.dns.probe_host }} with nameserver {{ cfg.dns.nameserver }}" >&2
  exit 1
fi
did "fixed node DNS: nameserver {{ cfg.dns.nameserver }}"
