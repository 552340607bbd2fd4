# labprov prelude: helpers every script shares.
# Privileged commands go through sudo -n so a missing NOPASSWD rule fails at once instead of hanging.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}
# A line the engine reads: why a check says the step needs a change.
reason() {
  printf '::reason %s\n' "$*"
}
# A line the engine reads: a fact about the host.
fact() {
  printf '::fact %s=%s\n' "$1" "$2"
}
