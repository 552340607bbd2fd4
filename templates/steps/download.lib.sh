# Fetch $1 into $2, retrying what a booting VM or a busy mirror gets over (a refused, reset or
# timed-out connection, no route yet, a body cut short, a stall, HTTP 429 or 5xx) with backoff
# and jitter; a 404 or an unknown host is reported at once. Why the last try failed, in curl's
# or the server's words, is left in $fetch_why.
fetch_why=""
fetch_url() {
  local url=$1 out=$2 try status rc res
  for try in 1 2 3 4 5; do
    rc=0
    # curl's words and the status in one capture: a file for them could not be written
    # when the disk is what failed.
    res=$(curl -sS -L --connect-timeout 20 --speed-limit 1024 --speed-time 30 \
      -o "$out" -w '\n::code %{http_code}\n' -K <(url_config "$url") 2>&1) || rc=$?
    status=$(printf '%s\n' "$res" | sed -n 's/^::code //p' | tail -n 1)
    fetch_why=$(printf '%s\n' "$res" | grep -v '^::code ' | sed '/^$/d' | tail -n 1)
    case "$rc:$status" in
      0:2??) return 0 ;;
      0:*) fetch_why="answered HTTP $status" ;;
      # curl's "Failure writing output": almost always the disk.
      23:*) fetch_why="$fetch_why (is $(dirname "$out")/ full? $(df -h --output=avail "$(dirname "$out")" 2>/dev/null | sed -n '2s/ //gp') left)" ;;
    esac
    case "$rc:$status" in
      0:429 | 0:5?? | 7:* | 18:* | 28:* | 52:* | 55:* | 56:*)
        echo "$url: $fetch_why (try $try of 5)" >&2
        ;;
      *) return 1 ;;
    esac
    if [ "$try" -lt 5 ]; then sleep $(((1 << (try - 1)) + RANDOM % 2)); fi
  done
  return 1
}

# Download {{ artifact.name }} {{ artifact.version }} for this host's architecture into $1,
# verifying its sha256 before anything is installed.
fetch_verified() {
  local out=$1 arch url sha sha_url actual
  arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
  case "$arch" in
{%- for a in artifact.by_arch %}
    {{ a.arch }})
      url={{ a.url | q }}
{%- if pushed_sha %}
      sha={{ pushed_sha | q }}
      sha_url=""
{%- elif a.sha.kind == "fixed" %}
      sha={{ a.sha.value | q }}
      sha_url=""
{%- else %}
      sha=""
      sha_url={{ a.sha.value | q }}
{%- endif %}
      ;;
{%- endfor %}
    *)
      echo "no {{ artifact.name }} download is configured for architecture $arch" >&2
      return 1
      ;;
  esac
{%- if pushed_sha %}
  # Push mode: the controller verified the file and streams it on stdin.
  cat >"$out.partial"
{%- else %}
  if ! fetch_url "$url" "$out.partial"; then
    rm -f "$out.partial"
    echo "download failed: $url: $fetch_why" >&2
    printf '::artifact %s why: %s\n' "$url" "$fetch_why"
    return 1
  fi
{%- endif %}
  if [ -z "$sha" ]; then
    if ! fetch_url "$sha_url" "$out.sha256"; then
      rm -f "$out.sha256"
      echo "cannot fetch checksum $sha_url: $fetch_why" >&2
      printf '::artifact %s why: %s\n' "$sha_url" "$fetch_why"
      return 1
    fi
    sha=$(awk '{print tolower($1); exit}' "$out.sha256")
    rm -f "$out.sha256"
    if ! printf '%s' "$sha" | grep -Eqx '[0-9a-f]{64}'; then
      echo "checksum file $sha_url holds no sha256 digest" >&2
      printf '::artifact %s why: %s\n' "$sha_url" "it holds no sha256 digest"
      return 1
    fi
  fi
  actual=$(sha256sum "$out.partial" | awk '{print $1}')
  if [ "$actual" != "$sha" ]; then
    rm -f "$out.partial"
    echo "sha256 mismatch for $url: expected $sha, got $actual" >&2
    # For the engine: the artifact, the digest wanted and the one found.
    printf '::artifact %s %s %s\n' "$url" "$sha" "$actual"
    return 3
  fi
  mv "$out.partial" "$out"
}
