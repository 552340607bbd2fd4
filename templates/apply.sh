#!/bin/bash
# labprov: apply step `{{ step.id }}` ({{ step.title }}).
# Safe to run again: every command converges or is guarded by a check.
set -euo pipefail
{% include "prelude.sh" %}
{{ step.apply }}
