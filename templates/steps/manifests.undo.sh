# down --purge: forget labprov's state on this host (and its dir, if nothing else is there).
dir="$(dirname "{{ state_path }}")"
if [ ! -e "$dir" ]; then
  echo "::unchanged"
  exit 0
fi
rm -rf "$dir"
rmdir "$(dirname "$dir")" 2>/dev/null || true
