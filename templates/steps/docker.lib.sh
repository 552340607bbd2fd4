# A docker.* URL of the profile with `{os}` made this host's distribution (os-release ID:
# ubuntu or debian, the two repositories Docker publishes under download.docker.com/linux/).
docker_url() {
  local id
  # shellcheck disable=SC1091
  id=$(. /etc/os-release && echo "$ID")
  printf '%s' "${1//\{os\}/$id}"
}
# The deb822 source Docker's install guide writes today (Ubuntu's and Debian's alike: suite =
# the release's codename).
docker_sources() {
  local codename
  # shellcheck disable=SC1091
  codename=$(. /etc/os-release && echo "${UBUNTU_CODENAME:-$VERSION_CODENAME}")
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: stable\nArchitectures: %s\nSigned-By: /etc/apt/keyrings/docker.asc\n' \
    "$(docker_url {{ cfg.docker.repo_url | q }})" "$codename" "$(dpkg --print-architecture)"
}
docker_installed() {
  dpkg-query -W -f='${Status}' docker-ce 2>/dev/null | grep -q 'install ok installed'
}
docker_source_ok() {
  [ -s /etc/apt/keyrings/docker.asc ] &&
    [ "$(cat /etc/apt/sources.list.d/docker.sources 2>/dev/null)" = "$(docker_sources)" ]
}
# The one-line source older guides (and the lab's) write; left beside docker.sources it
# makes apt warn about every target being configured twice.
legacy_docker_list() {
  [ -e /etc/apt/sources.list.d/docker.list ]
}
in_docker_group() {
  id -nG "$(id -un)" | tr ' ' '\n' | grep -qx docker
}
