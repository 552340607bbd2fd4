#!/bin/bash
# labprov: record what is applied (the state on stdin), atomically.
set -euo pipefail
state="{{ state_path }}"
# labprov's state on the host says what the lab holds: its owner's alone (0700 dirs, 0600 files).
umask 077
mkdir -p "$(dirname "$state")"
chmod 0700 "$(dirname "$(dirname "$state")")" "$(dirname "$state")"
cat >"$state.labprov-new"
mv -f "$state.labprov-new" "$state"
