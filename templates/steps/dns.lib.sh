{% include "steps/cluster.lib.sh" %}
# Name resolution inside the minikube node, where image pulls happen.
node_dns_ok() {
  "$mk" ssh -- getent hosts {{ cfg.dns.probe_host | q }} >/dev/null 2>&1
}
