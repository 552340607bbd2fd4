#!/bin/bash
# labprov doctor: read-only, one round trip. First the facts step's own check (what `plan`
# measures: OS, CPUs, memory, disk, sudo), then probes of what `up` needs later. Each prints
# what it saw (::fact, ::data, ::reach); the controller judges (src/doctor/judge.rs).
# shellcheck disable=SC2317,SC2034 # the prelude's and check.lib's helpers serve the steps' checks; the facts check uses few
set -u
{% include "prelude.sh" %}
lp_cache=$(mktemp -d) || exit 1
trap 'rm -rf "$lp_cache"' EXIT
{% include "steps/check.lib.sh" %}
printf '::begin facts\n'
(
{{ facts }}
)
printf '::end facts %s\n' "$?"
# The controller's clock when it rendered this script, in ms since the epoch: the host's own
# clock is read first thing, so only the way here lies between them.
fact clock_ms "$(date +%s%3N)"
fact controller_ms {{ now_ms | q }}
fact cgroup_fs "$(stat -fc %T /sys/fs/cgroup 2>/dev/null || echo unknown)"
# Docker, when installed: its cgroup version and what it reports as the machine (minikube reads
# its limits from `docker info`); whether this login and the group database have the user in
# group docker. Without the group, `docker info` needs sudo: asked with -n, never a prompt.
if command -v docker >/dev/null 2>&1; then
  fact docker_installed yes
  fmt='{% raw %}{{.CgroupVersion}} {{.NCPU}} {{.MemTotal}}{% endraw %}'
  info=$(docker info --format "$fmt" 2>/dev/null || as_root docker info --format "$fmt" 2>/dev/null || true)
  read -r d_cg d_cpus d_mem <<<"$info" || true
  fact docker_cgroup "${d_cg:-}"
  fact docker_cpus "${d_cpus:-}"
  case ${d_mem:-} in
    '' | *[!0-9]*) fact docker_mem_mib "" ;;
    *) fact docker_mem_mib "$((d_mem / 1048576))" ;;
  esac
  fact docker_group_session "$(id -nG | tr ' ' '\n' | grep -cx docker)"
  fact docker_group_db "$(getent group docker | cut -d: -f4 | tr ',' '\n' | grep -cx "$(id -un)")"
else
  fact docker_installed no
fi
printf '::data routes %s\n' "$(ip -4 route show table main 2>&1 | base64 -w0)"
# reach INDEX NAME URL: resolve NAME (empty for an address) and send one HEAD request to URL,
# following redirects, with curl reading the URL from a file descriptor (a URL may carry
# credentials, and curl's argv is visible to every user in ps). All run at once.
reach() {
  local dns=address res rc=0 code why url=${3//"{codename}"/$codename}
  url=${url//"{os}"/$os_id}
  if [ -n "$2" ]; then
    if getent ahosts "$2" >/dev/null 2>&1; then dns=ok; else dns=fail; fi
  fi
  res=$(curl -sS -I -L --connect-timeout 10 --max-time 20 -o /dev/null \
    -w '\n::code %{http_code}\n' -K <(url_config "$url") 2>&1) || rc=$?
  code=$(printf '%s\n' "$res" | sed -n 's/^::code //p' | tail -n 1)
  why=$(printf '%s\n' "$res" | grep -v '^::code ' | sed '/^$/d' | tail -n 1)
  printf '::reach %s %s %s %s %s\n' "$1" "$dns" "${code:-000}" "$rc" "$(printf '%s' "$why" | base64 -w0)"
}
# Artifacts are probed for this host's architecture only; Docker's repository for its
# distribution and release.
host_arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
# shellcheck disable=SC1091
codename=$(. /etc/os-release && echo "${UBUNTU_CODENAME:-${VERSION_CODENAME:-}}")
# Docker's URLs may name the distribution as `{os}` (docker.lib.sh's docker_url does the same).
# shellcheck disable=SC1091
os_id=$(. /etc/os-release && echo "${ID:-}")
{% for r in reach -%}
{% if r.arch %}[ "$host_arch" != {{ r.arch | q }} ] || {% endif %}reach {{ r.index }} {{ r.name | q }} {{ r.url | q }} &
{% endfor -%}
wait
exit 0
