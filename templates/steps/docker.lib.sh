# A docker.* URL of the profile with `{os}` made this host's distribution (os-release ID:
# ubuntu or debian, the two repositories Docker publishes under download.docker.com/linux/).
docker_url() {
  local id
  # shellcheck disable=SC1091
  id=$(. /etc/os-release && echo "$ID")
  printf '%s' "${1//\{os\}/$id}"
}
# docker.repo_url, whose login (if any) apt gets from its auth.conf.d (root, 0600;
# apt_auth.conf(5)), never from the world-readable docker.sources.
docker_repo={{ cfg.docker.repo_url | q }}
docker_auth_file=/etc/apt/auth.conf.d/labprov-docker.conf
# docker.repo_url without its login.
docker_repo_uri() {
  local rest=${docker_repo#*://} authority
  authority=${rest%%/*}
  printf '%s://%s%s' "${docker_repo%%://*}" "${authority##*@}" "${rest#"$authority"}"
}
# %XX decoded, as apt decodes a URL's login (a backslash stays one).
pct_decode() {
  local s=${1//\\/\\\\}
  printf '%b' "${s//%/\\x}"
}
# apt's auth.conf entry for docker.repo_url's login, or nothing when it has none. The scheme is
# named: an entry without one matches only https (apt_auth.conf(5)).
docker_auth() {
  local rest=${docker_repo#*://} authority userinfo password=''
  authority=${rest%%/*}
  [[ $authority == *@* ]] || return 0
  userinfo=${authority%@*}
  if [[ $userinfo == *:* ]]; then password=${userinfo#*:}; fi
  printf 'machine %s://%s\nlogin %s\n' "${docker_repo%%://*}" "${authority##*@}" "$(pct_decode "${userinfo%%:*}")"
  if [ -n "$password" ]; then printf 'password %s\n' "$(pct_decode "$password")"; fi
}
# The auth entry is the profile's (read as root: the file is root's alone), or there is none.
docker_auth_ok() {
  local want
  want=$(docker_auth)
  if [ -z "$want" ]; then
    [ ! -e "$docker_auth_file" ]
  else
    [ "$(as_root cat "$docker_auth_file" 2>/dev/null)" = "$want" ]
  fi
}
# The deb822 source Docker's install guide writes today (Ubuntu's and Debian's alike: suite =
# the release's codename).
docker_sources() {
  local codename
  # shellcheck disable=SC1091
  codename=$(. /etc/os-release && echo "${UBUNTU_CODENAME:-$VERSION_CODENAME}")
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: stable\nArchitectures: %s\nSigned-By: /etc/apt/keyrings/docker.asc\n' \
    "$(docker_url "$(docker_repo_uri)")" "$codename" "$(dpkg --print-architecture)"
}
docker_installed() {
  dpkg-query -W -f='${Status}' docker-ce 2>/dev/null | grep -q 'install ok installed'
}
docker_source_ok() {
  [ -s /etc/apt/keyrings/docker.asc ] &&
    [ "$(cat /etc/apt/sources.list.d/docker.sources 2>/dev/null)" = "$(docker_sources)" ] &&
    docker_auth_ok
}
# The one-line source older guides (and the lab's) write; left beside docker.sources it
# makes apt warn about every target being configured twice.
legacy_docker_list() {
  [ -e /etc/apt/sources.list.d/docker.list ]
}
in_docker_group() {
  id -nG "$(id -un)" | tr ' ' '\n' | grep -qx docker
}
