#!/usr/bin/env bash
# Copies what the Helm chart needs from the rest of the repository into charts/voxgate/, because a
# chart can only read files inside its own directory:
#
#   crds/*.yaml            -> charts/voxgate/crds/            (installed by `helm install` only)
#   policies/ bundle files -> charts/voxgate/files/policies/  (the OPA sidecar's bundle)
#
# Bundle files are what OPA loads in bundle mode and what voxgate.policy.revision hashes: *.rego
# except *_test.rego and anything under a testing/ directory, plus data.json/data.yaml/data.yml;
# hidden files and directories (.regal/) are skipped. A .manifest with the policy revision (the
# same content hash the operator's tests and `voxgate check` use) is written next to them, so the
# sidecar reports that revision with every decision.
#
# tests/unit/chart/test_chart_sync.py fails when the chart's copies drift from the sources.
#
# usage: hack/chart-sync.sh [--check]
#   --check   change nothing; exit 1 and list the differences if the copies are out of date
#   env PYTHON overrides .venv/bin/python (used only to compute the policy revision)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
chart="$root/charts/voxgate"
python=${PYTHON:-$root/.venv/bin/python}
check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: hack/chart-sync.sh [--check]" >&2; exit 2 ;;
esac

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging/crds" "$staging/files/policies"

# -- CRDs ------------------------------------------------------------------------------------
cp "$root"/crds/*.yaml "$staging/crds/"

# -- policy bundle ---------------------------------------------------------------------------
(
  cd "$root/policies"
  find . \( -name '.?*' -prune \) -o \( -type d -name testing -prune \) -o -type f \
    \( \( -name '*.rego' ! -name '*_test.rego' \) -o -name data.json -o -name data.yaml \
       -o -name data.yml \) -print |
    sed 's|^\./||' | LC_ALL=C sort
) >"$staging/bundle-files"
while IFS= read -r relative; do
  mkdir -p "$staging/files/policies/$(dirname "$relative")"
  cp "$root/policies/$relative" "$staging/files/policies/$relative"
done <"$staging/bundle-files"
rm "$staging/bundle-files"

revision=$(
  cd "$root" && PYTHONPATH="$root/operator" "$python" -c \
    'import pathlib, sys; from voxgate.policy.revision import policy_revision; print(policy_revision(pathlib.Path(sys.argv[1])))' \
    policies
)
printf '{"revision": "%s"}\n' "$revision" >"$staging/files/policies/.manifest"

# -- compare or install ----------------------------------------------------------------------
if $check; then
  if diff -r "$staging/crds" "$chart/crds" >/dev/null 2>&1 &&
    diff -r "$staging/files/policies" "$chart/files/policies" >/dev/null 2>&1; then
    echo "chart-sync: charts/voxgate is up to date (policy revision $revision)"
    exit 0
  fi
  echo "chart-sync: charts/voxgate is out of date; run hack/chart-sync.sh" >&2
  diff -rq "$staging/crds" "$chart/crds" >&2 || true
  diff -rq "$staging/files/policies" "$chart/files/policies" >&2 || true
  exit 1
fi

rm -rf "$chart/crds" "$chart/files/policies"
mkdir -p "$chart/files"
cp -R "$staging/crds" "$chart/crds"
cp -R "$staging/files/policies" "$chart/files/policies"
echo "chart-sync: copied $(ls "$chart/crds" | wc -l) CRDs and the policy bundle (revision $revision)"
