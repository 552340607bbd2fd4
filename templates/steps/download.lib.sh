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
  if ! curl -fsSL --retry 3 -o "$out.partial" "$url"; then
    echo "download failed: $url" >&2
    printf '::artifact %s\n' "$url"
    return 1
  fi
{%- endif %}
  if [ -z "$sha" ]; then
    if ! sha=$(curl -fsSL --retry 3 "$sha_url" | awk '{print tolower($1); exit}'); then
      echo "cannot fetch checksum $sha_url" >&2
      printf '::artifact %s\n' "$sha_url"
      return 1
    fi
    if ! printf '%s' "$sha" | grep -Eqx '[0-9a-f]{64}'; then
      echo "checksum file $sha_url holds no sha256 digest" >&2
      printf '::artifact %s\n' "$sha_url"
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
