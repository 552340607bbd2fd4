#!/bin/bash
# labprov: read-only checks of every step, run in one round trip.
# Each step prints ::begin, its ::reason/::fact lines, and ::end with its exit code
# (0 converged, 1 needs change, 2 blocked: it cannot be converged without help).
set -u
{% include "prelude.sh" %}
# What several steps ask (the node's state, one read of the cluster) is asked once per check
# and kept here for the steps after it (steps/check.lib.sh).
lp_cache=$(mktemp -d) || exit 1
trap 'rm -rf "$lp_cache"' EXIT
{% include "steps/check.lib.sh" %}
{% for step in steps %}
printf '::begin %s\n' {{ step.id | q }}
(
{{ step.check }}
)
printf '::end %s %s\n' {{ step.id | q }} "$?"
{% endfor %}
