bin={{ dest | q }}
if [ ! -x "$bin" ]; then
  reason "{{ artifact.name }} is not installed at $bin"
  exit 1
fi
have=$({{ version_cmd }} 2>/dev/null || true)
if [ "$have" != {{ artifact.version | q }} ]; then
  reason "{{ artifact.name }} ${have:-of unknown version} is installed, {{ artifact.version }} wanted"
  exit 1
fi
exit 0
