# Name resolution inside the minikube node, where image pulls happen: `docker exec` runs the
# probe in the node container (named after minikube's profile) as `minikube ssh` would, without
# minikube's SSH session into the node.
node_dns_ok() {
  docker exec minikube getent hosts {{ cfg.dns.probe_host | q }} >/dev/null 2>&1
}
