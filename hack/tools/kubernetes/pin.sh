#!/usr/bin/env bash
# Pins kube-apiserver, kube-controller-manager and kubectl to one Kubernetes release.
#
# k8s.io/kubernetes maps its staging modules (k8s.io/api, k8s.io/client-go, ...) to ./staging with
# v0.0.0 versions, which a consumer cannot resolve; this rewrites go.mod with a replace directive
# per staging module, taken from that release's own go.mod, to the matching published v0.X.Y.
#
# usage: hack/tools/kubernetes/pin.sh v1.36.3
set -euo pipefail
version=${1:?usage: $0 v1.MINOR.PATCH}
[[ $version =~ ^v1\.[0-9]+\.[0-9]+$ ]] || { echo "pin.sh: '$version' is not a v1.X.Y release" >&2; exit 2; }
staging="v0.${version#v1.}"
cd "$(dirname "$0")"
upstream_mod=$(go mod download -json "k8s.io/kubernetes@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
go_directive=$(awk '$1 == "go" {print $2; exit}' "$upstream_mod")
{
  echo "// Pins kube-apiserver, kube-controller-manager and kubectl. Regenerate with pin.sh beside this file."
  echo "module voxgate.dev/tools/kubernetes"
  echo
  echo "go $go_directive"
  echo
  echo "tool ("
  for cmd in kube-apiserver kube-controller-manager kubectl; do echo "	k8s.io/kubernetes/cmd/$cmd"; done
  echo ")"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  echo "replace ("
  awk -v v="$staging" '$2 == "=>" && $3 ~ /^\.\/staging\// {print "\t" $1 " => " $1 " " v}' "$upstream_mod"
  echo ")"
} > go.mod
rm -f go.sum
go mod tidy
echo "pinned Kubernetes $version (staging modules $staging)" >&2
