{% include "steps/docker.lib.sh" %}
rc=0
docker_installed || { reason "docker-ce is not installed"; rc=1; }
docker_source_ok || { reason "Docker's apt repository is not configured"; rc=1; }
if legacy_docker_list; then reason "legacy /etc/apt/sources.list.d/docker.list present"; rc=1; fi
systemctl is-active --quiet docker 2>/dev/null || { reason "docker service is not active"; rc=1; }
in_docker_group || { reason "user $(id -un) is not in group docker"; rc=1; }
exit "$rc"
