# 4.7: each addon's own health or API path; then Prometheus's istio_requests_total after a
# few requests through the gateway. Prometheus scrapes every 15 s (Istio's addon config):
# ask again for up to a minute.
for _ in 1 2 3 4 5; do
  "$kc" exec -n labprov-verify labprov-curl -c probe -- curl -s -o /dev/null -m 10 {{ p.gateway | q }} >/dev/null 2>&1
done
http observability kiali labprov-verify labprov-curl probe http://kiali.istio-system:20001/kiali/api/status
http observability grafana labprov-verify labprov-curl probe http://grafana.istio-system:3000/api/health
http observability jaeger labprov-verify labprov-curl probe http://tracing.istio-system:80/jaeger/api/services
http observability prometheus labprov-verify labprov-curl probe http://prometheus.istio-system:9090/-/ready
q='http://prometheus.istio-system:9090/api/v1/query?query=istio_requests_total'
ready=$("$kc" exec -n labprov-verify labprov-curl -c probe -- curl -s -o /dev/null -w '%{http_code}' -m 10 http://prometheus.istio-system:9090/-/ready 2>/dev/null)
if [ "$ready" = 200 ]; then
  for _ in $(seq 20); do
    body=$("$kc" exec -n labprov-verify labprov-curl -c probe -- curl -s -m 10 "$q" 2>/dev/null)
    case $body in *'"result":[{'* | *'"result": [{'*) break ;; esac
    sleep 3
  done
fi
http observability series labprov-verify labprov-curl probe "$q"
