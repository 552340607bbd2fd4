#!/bin/bash
# labprov: record what is applied (the state on stdin), atomically.
set -euo pipefail
state="{{ state_path }}"
mkdir -p "$(dirname "$state")"
cat >"$state.labprov-new"
mv -f "$state.labprov-new" "$state"
