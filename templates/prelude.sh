# labprov prelude: helpers every script shares.
# Privileged commands go through sudo -n so a missing NOPASSWD rule fails at once instead of hanging.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}
# A line the engine reads: why a check says the step needs a change.
reason() {
  printf '::reason %s\n' "$*"
}
# A line the engine reads: what an apply changed, in the user's words (a changed step's detail).
did() {
  printf '::did %s\n' "$*"
}
# A line the engine reads: a fact about the host.
fact() {
  printf '::fact %s=%s\n' "$1" "$2"
}
# curl's config for one URL, for `curl -K <(url_config "$url")`: a URL in curl's argv (it may
# carry credentials) would show in `ps` to every user of the host; printf is a builtin.
url_config() {
  local u=${1//\\/\\\\}
  u=${u//\"/\\\"}
  printf 'url = "%s"\n' "$u"
}
