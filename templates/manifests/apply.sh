#!/bin/bash
# labprov: apply the changed objects of bundle `{{ bundle }}` (JSON documents on stdin).
set -euo pipefail
kc={{ cfg.paths.bin_dir | q }}/kubectl
{%- if apply %}
"$kc" apply --server-side --field-manager=labprov --force-conflicts -f -
{%- else %}
# Prune: delete objects labprov applied before and the profile no longer renders.
"$kc" delete --ignore-not-found -f -
{%- endif %}
