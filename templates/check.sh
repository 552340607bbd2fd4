#!/bin/bash
# labprov: read-only checks of every step, run in one round trip.
# Each step prints ::begin, its ::reason/::fact lines, and ::end with its exit code
# (0 converged, 1 needs change, 2 blocked: it cannot be converged without help).
set -u
{% include "prelude.sh" %}
{% for step in steps %}
printf '::begin %s\n' {{ step.id | q }}
(
{{ step.check }}
)
printf '::end %s %s\n' {{ step.id | q }} "$?"
{% endfor %}
