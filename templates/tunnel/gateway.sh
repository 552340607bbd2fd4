#!/bin/bash
# labprov tunnel: the Istio ingress gateway's address and http2 port, as the lab guide finds
# them (4.4 step 6); `minikube tunnel` gives the LoadBalancer its address.
set -euo pipefail
kc={{ cfg.paths.bin_dir | q }}/kubectl
ip=""
for _ in $(seq 1 150); do
  ip=$("$kc" -n istio-system get service istio-ingressgateway -o 'jsonpath={.status.loadBalancer.ingress[0].ip}' 2>/dev/null || true)
  if [ -n "$ip" ]; then
    break
  fi
  sleep 0.1
done
if [ -z "$ip" ]; then
  echo "the istio-ingressgateway service got no address from minikube tunnel in 15s" >&2
  exit 1
fi
port=$("$kc" -n istio-system get service istio-ingressgateway -o json | python3 -c '
import json, sys
ports = json.load(sys.stdin)["spec"]["ports"]
print(next(p["port"] for p in ports if p.get("name") == "http2"))
')
echo "::gateway $ip $port"
