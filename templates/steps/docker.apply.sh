{% include "steps/docker.lib.sh" %}
{% include "steps/apt.lib.sh" %}
export DEBIAN_FRONTEND=noninteractive
# docker-ce's upstream version (5:28.5.1-1~ubuntu.24.04~noble is 28.5.1), for what the step did.
docker_version() {
  local v
  v=$(dpkg-query -W -f='${Version}' docker-ce 2>/dev/null) || return 0
  v=${v#*:}
  printf '%s' "${v%%-*}"
}
if ! docker_installed || ! docker_source_ok || legacy_docker_list; then
  before=''
  if docker_installed; then
    before=$(docker_version)
  fi
  source_was_ok=''
  if docker_source_ok; then
    source_was_ok=1
  fi
  # Docker's guide: packages that conflict with docker-ce go first.
  conflicts=()
  for p in docker.io docker-compose docker-compose-v2 docker-doc podman-docker containerd runc; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      conflicts+=("$p")
    fi
  done
  wait_cloud_init
  if [ -n "${conflicts[*]}" ]; then
    apt_get remove -y -qq "${conflicts[@]}"
    list=$(printf '%s, ' "${conflicts[@]}")
    did "removed ${list%, } (they conflict with docker-ce)"
  fi
  # Before any apt-get update: beside docker.sources, a docker.list whose Signed-By differs
  # (older guides used docker.gpg) makes apt refuse every source ("Conflicting values set
  # for option Signed-By"), so an update first would fail and never get here.
  if legacy_docker_list; then
    as_root rm -f /etc/apt/sources.list.d/docker.list
    did "removed the legacy docker.list"
  fi
  # A docker.sources that differs from the profile's (a wrong repo_url of an earlier run, or a
  # mirror since moved) would fail this first update with exit 100 on every re-run, so the
  # corrected profile could never be applied: it is rewritten below anyway.
  if ! docker_source_ok; then
    as_root rm -f /etc/apt/sources.list.d/docker.sources
  fi
  apt_get update -qq
  apt_get install -y -qq ca-certificates curl
  as_root install -m 0755 -d /etc/apt/keyrings
  key=$(mktemp)
  trap 'rm -f "$key"' EXIT
  curl -fsSL --retry 3 --retry-connrefused -K <(url_config "$(docker_url {{ cfg.docker.gpg_url | q }})") -o "$key"
  as_root install -m 0644 "$key" /etc/apt/keyrings/docker.asc
  # The login first, so the update below can use the source; written whole or not at all.
  if [ -n "$(docker_auth)" ]; then
    as_root install -d -m 0755 /etc/apt/auth.conf.d
    # shellcheck disable=SC2016 # $1 belongs to the inner shell
    docker_auth | as_root sh -c 'umask 077 && cat >"$1.labprov-new" && mv -f "$1.labprov-new" "$1"' sh "$docker_auth_file"
  else
    as_root rm -f "$docker_auth_file"
  fi
  docker_sources | as_root tee /etc/apt/sources.list.d/docker.sources >/dev/null
  apt_get update -qq
  apt_get install -y -qq docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin
  after=$(docker_version)
  if [ -z "$before" ]; then
    did "installed docker-ce $after from Docker's repository"
  elif [ "$before" != "$after" ]; then
    did "upgraded docker-ce $before to $after from Docker's repository"
  elif [ -z "$source_was_ok" ]; then
    did "set up Docker's repository (docker-ce $after was installed)"
  fi
fi
if ! systemctl is-active --quiet docker; then
  as_root systemctl enable --now docker
  did "started the docker service"
fi
if ! in_docker_group; then
  as_root usermod -aG docker "$(id -un)"
  did "added $(id -un) to docker"
  # The group applies only to new logins: ask the engine for a fresh connection
  # instead of `newgrp`, which would start an interactive shell.
  echo "::reconnect"
fi
