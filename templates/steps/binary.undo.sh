dest={{ dest | q }}
if [ ! -e "$dest" ]; then
  echo "::unchanged"
  exit 0
fi
{%- if artifact.name == "minikube" %}
# minikube's own purge also removes ~/.minikube (caches, profiles).
"$dest" delete --all --purge >/dev/null 2>&1 || true
{%- endif %}
as_root rm -f "$dest"
rm -f "$HOME/.local/state/labprov/host/bin/{{ artifact.name }}"
