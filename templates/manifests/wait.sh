#!/bin/bash
# labprov: wait for the rollouts of bundle `{{ bundle }}`, as the lab guide does.
set -euo pipefail
kc={{ cfg.paths.bin_dir | q }}/kubectl
{%- for w in waits %}
if ! out=$("$kc" rollout status deployment/{{ w.name | q }} -n {{ w.namespace | q }} --timeout={{ cfg.lab.rollout_timeout }}s 2>&1); then
  echo "not ready after {{ cfg.lab.rollout_timeout }}s: {{ w.namespace }}/Deployment/{{ w.name }}: $(printf '%s' "$out" | tail -n 1)" >&2
  exit 1
fi
{%- endfor %}
