{% include "steps/cluster.lib.sh" %}
kc={{ cfg.paths.bin_dir | q }}/kubectl
if ! cluster_running || [ ! -x "$kc" ]; then
  reason "cluster not running yet"
  exit 1
fi
# Which cluster: state recorded for a cluster since deleted must not count.
if ! uid=$("$kc" get namespace kube-system -o 'jsonpath={.metadata.uid}' 2>/dev/null); then
  reason "cannot read the cluster"
  exit 1
fi
printf '::data cluster_uid %s\n' "$(printf '%s' "$uid" | base64 -w0)"
state="{{ state_path }}"
if [ -r "$state" ]; then
  printf '::data state %s\n' "$(base64 -w0 "$state")"
fi
home={{ istio_home | q }}
rc=0
for pattern in{% for f in release_files %} {{ f | q }}{% endfor %}; do
  found=0
  # The pattern is a glob on purpose (samples/addons/*.yaml).
  # shellcheck disable=SC2086
  for f in "$home"/$pattern; do
    [ -e "$f" ] || continue
    found=1
    printf '::data file:%s %s\n' "${f#"$home"/}" "$(base64 -w0 "$f")"
  done
  if [ "$found" -eq 0 ]; then
    reason "the Istio release has no $pattern yet"
    rc=1
  fi
done
# Exit 0 means "all data is here": the controller decides what changes.
exit "$rc"
