{% include "steps/download.lib.sh" %}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fetch_verified "$work/{{ artifact.name }}"
dest={{ dest | q }}
as_root install -d -m 0755 "$(dirname "$dest")"
# Install beside the final path, then rename: the final path never holds a half-written binary.
as_root install -m 0755 "$work/{{ artifact.name }}" "$dest.labprov-new"
as_root mv -f "$dest.labprov-new" "$dest"
# What was installed, for the check (binary.check.sh): version, size, mtime, inode.
stamp="$HOME/.local/state/labprov/host/bin/{{ artifact.name }}"
mkdir -p "${stamp%/*}"
printf '%s %s\n' {{ artifact.version | q }} "$(stat -c '%s %Y %i' "$dest")" >"$stamp"
did "installed {{ artifact.name }} {{ artifact.version }}"
