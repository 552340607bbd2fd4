bin={{ dest | q }}
if [ ! -x "$bin" ]; then
  reason "{{ artifact.name }} is not installed at $bin"
  exit 1
fi
# The apply records the version and the file it installed (size, mtime, inode): that same file
# needs no `version` run (a tool process on every check). Any other file is asked.
want={{ artifact.version | q }}
stamp=''
{ read -r stamp <"$HOME/.local/state/labprov/host/bin/{{ artifact.name }}"; } 2>/dev/null || true
if [ -n "$stamp" ] && [ "$stamp" = "$want $(stat -c '%s %Y %i' "$bin" 2>/dev/null)" ]; then
  exit 0
fi
have=$({{ version_cmd }} 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  reason "{{ artifact.name }} ${have:-of unknown version} is installed, {{ artifact.version }} wanted"
  exit 1
fi
exit 0
