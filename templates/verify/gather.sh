#!/bin/bash
# labprov verify, first round trip: what the selected checks read on the host and in the
# cluster, read-only. Each answer is one line
#   ::env NAME EXIT BASE64(stdout) BASE64(stderr)
# and the controller decides from them (every check, or the probe it needs).
set -u
kc={{ bin_dir | q }}/kubectl
mk={{ bin_dir | q }}/minikube
errf=$(mktemp) || exit 70
trap 'rm -f "$errf"' EXIT
answer() {
  local name=$1 out rc
  shift
  out=$("$@" 2>"$errf")
  rc=$?
  printf '::env %s %s %s %s\n' "$name" "$rc" "$(printf '%s' "$out" | base64 -w0)" "$(base64 -w0 <"$errf")"
}
{% if docker %}
# Docker without sudo: a new login has the docker group (this is one).
answer docker docker info
{% endif %}
{% if minikube %}
answer minikube "$mk" status -o json
{% endif %}
{% if node_dns %}
answer node-dns "$mk" ssh -- getent hosts {{ probe_host | q }}
{% endif %}
{% if objects %}
# Every object a check reads, in one request; Istio's kinds apart, since kubectl refuses a
# whole request naming a kind the cluster does not have (Istio not installed).
answer objects "$kc" get namespaces,pods,services,deployments,daemonsets,networkpolicies -A -o json
answer istio "$kc" get virtualservices.networking.istio.io,destinationrules.networking.istio.io,peerauthentications.security.istio.io,gateways.networking.istio.io -A -o json
{% endif %}
exit 0
