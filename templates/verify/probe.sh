#!/bin/bash
# labprov verify, second round trip: the probes of the checks that need them, run from pods
# (where the guide's outcomes live). verify's own pods carry labprov.io/verify=probe and
# app.kubernetes.io/managed-by=labprov; they are created once here, in labprov-verify or in
# the namespace an exercise is about, and deleted when the script ends however it ends.
# Answers: ::probe CHECK KEY EXIT BASE64(stdout) BASE64(stderr); ::took CHECK MS.
set -u
kc={{ bin_dir | q }}/kubectl
sel=labprov.io/verify=probe
errf=$(mktemp) || exit 70
emit() {
  printf '::probe %s %s %s %s %s\n' "$1" "$2" "$3" "$(printf '%s' "$4" | base64 -w0)" "$(printf '%s' "$5" | base64 -w0)"
}
ms() { date +%s%3N; }
pod_ip() { "$kc" get pod -n "$1" "$2" -o 'jsonpath={.status.podIP}' 2>/dev/null; }
# CHECK KEY NS POD HOST:PORT: agnhost's connect, as upstream's NetworkPolicy e2e tests probe.
connect() {
  local out rc
  out=$("$kc" exec -n "$3" "$4" -- /agnhost connect "$5" --timeout=3s --protocol=tcp 2>"$errf")
  rc=$?
  emit "$1" "$2" "$rc" "$out" "$(cat "$errf")"
}
# CHECK KEY NS POD CONTAINER URL: the body, then the HTTP status on its own last line.
http() {
  local out rc
  out=$("$kc" exec -n "$3" "$4" -c "$5" -- curl -sS -m 10 -w '\n%{http_code}' "$6" 2>"$errf")
  rc=$?
  emit "$1" "$2" "$rc" "$out" "$(cat "$errf")"
}
# CHECK NS POD URL N: N requests to productpage from a pod inside the mesh; one character per
# request for the reviews version that served its page, e when it failed. Bookinfo's page
# names the reviews pod ("Reviews served by: reviews-v2-..."); failing that, its stars say
# it (productpage's template: v1 none, v2 black, v3 red; glyphicons before Istio 1.22,
# Tailwind svgs since). Classified here, on the host: only the letters travel back.
versions() {
  local out rc
  # shellcheck disable=SC2016 # the loop runs in the pod, with its own positional args
  out=$("$kc" exec -n "$2" "$3" -c ratings -- sh -c '
    i=0
    while [ "$i" -lt "$2" ]; do
      curl -s -m 10 -w "\n::code %{http_code}\n" "$1"
      i=$((i + 1))
    done' sh "$4" "$5" 2>"$errf" | awk '
    /^::code / {
      if ($2 != "200" || gone) r = r "e"
      else if (served != "") r = r served
      else if (red) r = r "3"
      else if (star) r = r "2"
      else r = r "1"
      star = 0; red = 0; gone = 0; served = ""; next
    }
    match($0, /reviews-v[0-9]+-/) { served = substr($0, RSTART + 9, RLENGTH - 10) }
    /glyphicon-star|<svg[^>]*fill="currentColor"/ { star = 1 }
    /color="red"|text-red-500"><svg/ { red = 1 }
    /reviews are currently unavailable|Error fetching product reviews/ { gone = 1 }
    END { print r }')
  rc=${PIPESTATUS[0]}
  emit "$1" versions "$rc" "$out" "$(cat "$errf")"
}
# --wait=BOOL NS...: delete verify's pods in NS... and its namespace. At the end without
# waiting for them to go (an interrupted run has only its grace period); before starting,
# until they are gone, so that the same names can be created again.
cleanup() {
  local wait=$1 ns
  shift
  for ns in "$@"; do
    "$kc" delete pod -n "$ns" -l "$sel" --ignore-not-found "$wait" >/dev/null 2>&1
  done
  "$kc" delete namespace labprov-verify --ignore-not-found "$wait" >/dev/null 2>&1
}
# shellcheck disable=SC2317 # run by the EXIT trap
finish() {
  trap - EXIT
  cleanup --wait=false{% for ns in namespaces %} {{ ns | q }}{% endfor %}
  rm -f "$errf"
}
{% if pods %}
trap 'exit 130' INT
trap 'exit 143' TERM HUP
# What an interrupted run may have left, wherever verify puts pods.
cleanup --wait=true{% for ns in stale_namespaces %} {{ ns | q }}{% endfor %}
trap finish EXIT
out=$("$kc" apply -f - 2>&1 <<'LABPROV_VERIFY_PODS'
{{ manifest }}
LABPROV_VERIFY_PODS
)
rc=$?
if [ "$rc" -ne 0 ]; then emit _ pods "$rc" "" "$out"; exit 0; fi
{% for ns in namespaces %}
out=$("$kc" wait --for=condition=Ready pod -n {{ ns | q }} -l "$sel" --timeout=120s 2>&1)
rc=$?
if [ "$rc" -ne 0 ]; then emit _ pods "$rc" "" "$out"; exit 0; fi
{% endfor %}
{% else %}
trap 'rm -f "$errf"' EXIT
{% endif %}
{% for c in checks %}
t0=$(ms)
{{ c.body }}
printf '::took %s %s\n' {{ c.name | q }} "$(($(ms) - t0))"
{% endfor %}
exit 0
