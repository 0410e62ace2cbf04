#!/usr/bin/env bash
# Builds the pinned Go tools into bin/ (see docs/development.md).
#
# Every pin lives in hack/tools/<group>/go.mod (one module per group, because the dependency graphs
# of Kubernetes, etcd, OPA, Helm and Regal clash). A build is keyed by the hash of that go.mod and
# go.sum plus the Go version, and kept in a cache outside the work tree, so a fresh clone on the same
# machine reuses it and only a changed pin triggers a rebuild.
#
# usage: hack/tools/build.sh [GROUP...]   (default: every group)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/bin"
cache="${VOXGATE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/voxgate/tools}"

# The version a group's go.mod pins for a module (inside a require block or on a require line).
pinned() { awk -v m="$2" '($1 == m) {print $2} ($1 == "require" && $2 == m) {print $3}' "$root/hack/tools/$1/go.mod" | head -n1; }

# group -> "package=binary" pairs. Versions are stamped where the tool reports one.
k8s_version=$(pinned kubernetes k8s.io/kubernetes)
k8s_minor=$(echo "$k8s_version" | cut -d. -f2)
opa_version=$(pinned opa github.com/open-policy-agent/opa)
helm_version=$(pinned helm helm.sh/helm/v3)
regal_version=$(pinned regal github.com/styrainc/regal)
kubescore_version=$(pinned kubescore github.com/zegl/kube-score)
for v in "$k8s_version" "$opa_version" "$helm_version" "$regal_version" "$kubescore_version"; do
  [[ $v == v* ]] || { echo "build.sh: cannot read a pinned version from hack/tools/*/go.mod" >&2; exit 1; }
done

declare -A packages=(
  [kubernetes]="k8s.io/kubernetes/cmd/kube-apiserver=kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager=kube-controller-manager k8s.io/kubernetes/cmd/kubectl=kubectl"
  [etcd]="go.etcd.io/etcd/server/v3=etcd"
  [opa]="github.com/open-policy-agent/opa=opa"
  [helm]="helm.sh/helm/v3/cmd/helm=helm"
  [kubeconform]="github.com/yannh/kubeconform/cmd/kubeconform=kubeconform"
  [regal]="github.com/styrainc/regal=regal"
  [kubescore]="github.com/zegl/kube-score/cmd/kube-score=kube-score"
)
declare -A ldflags=(
  [kubernetes]="-X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor -X k8s.io/component-base/version.gitTreeState=clean"
  [etcd]=""
  [opa]="-X github.com/open-policy-agent/opa/v1/version.Version=${opa_version#v}"
  [helm]="-X helm.sh/helm/v3/internal/version.version=$helm_version"
  [kubeconform]=""
  [regal]="-X github.com/styrainc/regal/pkg/version.Version=$regal_version"
  # Upstream's goreleaser stamps the version without the v (kube-score version: 1.20.0, ...).
  [kubescore]="-X main.version=${kubescore_version#v}"
)
order=(kubernetes etcd opa helm kubeconform regal kubescore)

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=("${order[@]}")
mkdir -p "$bin" "$cache"

for group in "${groups[@]}"; do
  [ -n "${packages[$group]+x}" ] || { echo "build.sh: unknown tool group '$group' (known: ${order[*]})" >&2; exit 2; }
  dir="$root/hack/tools/$group"
  key=$( { cat "$dir/go.mod" "$dir/go.sum"; go env GOVERSION GOOS GOARCH; echo "${ldflags[$group]}"; } | sha256sum | cut -c1-16)
  target="$cache/$group-$key"
  if [ ! -f "$target/.complete" ]; then
    echo "tools: building $group (pin $key) (a first build takes minutes)" >&2
    start=$(date +%s)
    tmp=$(mktemp -d "$cache/.$group-XXXXXX")
    for pair in ${packages[$group]}; do
      (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${ldflags[$group]}" -o "$tmp/${pair#*=}" "${pair%%=*}")
    done
    touch "$tmp/.complete"
    rm -rf "$target" && mv "$tmp" "$target"
    echo "tools: built $group in $(( $(date +%s) - start ))s" >&2
  fi
  for pair in ${packages[$group]}; do
    name=${pair#*=}
    if ! cmp -s "$target/$name" "$bin/$name" 2>/dev/null; then
      cp -f "$target/$name" "$bin/$name.tmp" && mv -f "$bin/$name.tmp" "$bin/$name"
    fi
  done
done
