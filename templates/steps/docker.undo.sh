{% include "steps/docker.lib.sh" %}
export DEBIAN_FRONTEND=noninteractive
if ! docker_installed && [ ! -e /etc/apt/sources.list.d/docker.sources ] && [ ! -e /etc/apt/keyrings/docker.asc ]; then
  echo "::unchanged"
  exit 0
fi
if docker_installed; then
  as_root apt-get purge -y -qq docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin
fi
as_root rm -f /etc/apt/sources.list.d/docker.sources /etc/apt/sources.list.d/docker.list /etc/apt/keyrings/docker.asc
