{% include "steps/docker.lib.sh" %}
{% include "steps/apt.lib.sh" %}
export DEBIAN_FRONTEND=noninteractive
# Docker's "Uninstall Docker Engine" purges these six. docker-ce-rootless-extras comes in as
# a recommended package of docker-ce and only "Enhances" it, so purging docker-ce leaves it.
docker_packages=(docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin docker-ce-rootless-extras)
# The ones dpkg has on the host (installed, or removed with config files left; a purged one
# may stay in its database as not-installed): a host an earlier down left half purged is
# finished, and apt-get never meets a package it cannot find.
mapfile -t known < <(dpkg-query -W -f='${db:Status-Status} ${Package}\n' "${docker_packages[@]}" 2>/dev/null |
  awk '$1 != "not-installed" { print $2 }')
if [ -z "${known[*]}" ] && [ ! -e /etc/apt/sources.list.d/docker.sources ] && [ ! -e /etc/apt/keyrings/docker.asc ] &&
  [ ! -e "$docker_auth_file" ]; then
  echo "::unchanged"
  exit 0
fi
if [ -n "${known[*]}" ]; then
  apt_get purge -y -qq "${known[@]}"
fi
as_root rm -f /etc/apt/sources.list.d/docker.sources /etc/apt/sources.list.d/docker.list /etc/apt/keyrings/docker.asc \
  "$docker_auth_file"
