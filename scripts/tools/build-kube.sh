#!/usr/bin/env bash
# Build kube-apiserver (and, when needed, etcd) from the Go module proxy into the tool cache.
# Idempotent: does nothing if $TOOLS_DIR/kube-$KUBE_VERSION/kube-apiserver already exists
# and an etcd is resolved.
#
# Why a wrapper module: k8s.io/kubernetes' go.mod requires every staging module
# (k8s.io/api, k8s.io/apiserver, ...) at the non-existent version v0.0.0 and maps them with
# `replace k8s.io/<m> => ./staging/src/k8s.io/<m>`. Replaces only apply in the main module,
# and `go install pkg@version` refuses modules with such replaces. So
# scripts/tools/kube-wrapper/ is a tiny main module that requires k8s.io/kubernetes
# $KUBE_VERSION and replaces each k8s.io/<m> with its published tag v0.Y.Z.
# The replace list is GENERATED here from that release's own go.mod (never hand-kept); when
# the committed kube-wrapper/go.mod does not match (new pin, new staging module, or
# IMAGEGATE_KUBE_REGEN=1) it is regenerated and `go mod tidy` rewrites go.sum: commit both.
#
# etcd (IMAGEGATE_ETCD):
#   auto   (default) use Debian's /usr/bin/etcd (etcd-server 3.4.23) if it runs, else build
#   system require /usr/bin/etcd (or IMAGEGATE_SYSTEM_ETCD)
#   build  build go.etcd.io/etcd/server/v3 at the version k8s.io/kubernetes pins (3.5.x for 1.33)
# Either way $TOOLS_DIR/bin/etcd points at the chosen binary.
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KUBE_VERSION="${IMAGEGATE_KUBE_VERSION:-v1.33.13}"
[[ "$KUBE_VERSION" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || die "bad IMAGEGATE_KUBE_VERSION=$KUBE_VERSION (want v1.Y.Z)"
KUBE_MINOR="${BASH_REMATCH[1]}"
STAGING_VERSION="v0.${KUBE_MINOR}.${BASH_REMATCH[2]}"   # staging repos tag v0.Y.Z for v1.Y.Z
ETCD_MODE="${IMAGEGATE_ETCD:-auto}"
SYSTEM_ETCD="${IMAGEGATE_SYSTEM_ETCD:-/usr/bin/etcd}"
WRAPPER="$TOOLS_SCRIPT_DIR/kube-wrapper"
WRAPPER_MODULE="imagegate.local/tools/kube-wrapper"
APISERVER_PKG="k8s.io/kubernetes/cmd/kube-apiserver"
ETCD_PKG="go.etcd.io/etcd/server/v3"
KUBE_DIR="$TOOLS_DIR/kube-$KUBE_VERSION"
APISERVER="$KUBE_DIR/kube-apiserver"

system_etcd_ok() {
  [[ -x "$SYSTEM_ETCD" ]] && "$SYSTEM_ETCD" --version 2>/dev/null | grep -q '^etcd Version:'
}

# Print the etcd binary to use if no build is needed, else nothing.
resolved_etcd() {
  case "$ETCD_MODE" in
    auto|system) if system_etcd_ok; then echo "$SYSTEM_ETCD"; return; fi
                 [[ "$ETCD_MODE" == system ]] && die "IMAGEGATE_ETCD=system but $SYSTEM_ETCD does not run" ;;
    build) ;;
    *) die "bad IMAGEGATE_ETCD=$ETCD_MODE (auto|system|build)" ;;
  esac
  # A previously built etcd counts (any version is fine for auto; build wants the pinned one,
  # which is checked again after the wrapper is resolved).
  local b
  for b in "$TOOLS_DIR"/etcd-v*/etcd; do [[ -x "$b" ]] && { echo "$b"; return; }; done
  return 0
}

# ---- fast path: nothing to do ----------------------------------------------------------
if [[ -x "$APISERVER" ]] && etcd_bin="$(resolved_etcd)" && [[ -n "$etcd_bin" && "$ETCD_MODE" != build ]]; then
  link_bin kube-apiserver "$APISERVER"
  link_bin etcd "$etcd_bin"
  log "kube-apiserver $KUBE_VERSION already built: $APISERVER; etcd: $etcd_bin"
  exit 0
fi

with_lock kube
require_go 1.24   # the `tool` directive needs 1.24; k8s 1.33's go.mod says go 1.24.0

# ---- wrapper module ----------------------------------------------------------------------

# Normalised view of the parts of a go.mod that this script owns: go/godebug lines, tool
# lines, replace lines and the k8s.io/kubernetes requirement. Handles block and one-line forms.
owned_lines() {
  awk '
    function emit(kind, line) {
      sub(/[[:space:]]*\/\/.*$/, "", line); gsub(/^[[:space:]]+|[[:space:]]+$/, "", line)
      if (line == "") return
      if (kind == "require" && line !~ /^k8s\.io\/kubernetes /) return
      print kind " " line
    }
    /^\)/ { blk = ""; next }
    /^(require|replace|tool|godebug)[[:space:]]*\($/ { blk = $1; next }
    /^(go|toolchain)[[:space:]]/ { print $1 " " $2; next }
    /^(require|replace|tool|godebug)[[:space:]]/ { k = $1; sub(/^[a-z]+[[:space:]]+/, ""); emit(k, $0); next }
    blk != "" { emit(blk, $0) }
  ' "$1" | sort
}

# Write the wrapper go.mod skeleton for $KUBE_VERSION to $1, generated from the release go.mod.
generate_skeleton() {
  local out="$1" gomod staging replaced
  gomod="$(cd / && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | json_field GoMod)"
  [[ -f "$gomod" ]] || die "could not download go.mod of k8s.io/kubernetes@$KUBE_VERSION"
  # every `k8s.io/<m> v0.0.0` requirement (block or one-line form)
  staging="$(awk '
      /^\)/ { inreq = 0; next }
      /^require[[:space:]]*\($/ { inreq = 1; next }
      /^require[[:space:]]/ { sub(/^require[[:space:]]+/, ""); if ($1 ~ /^k8s\.io\// && $2 == "v0.0.0") print $1; next }
      inreq && $1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }
    ' "$gomod" | sort -u)"
  # cross-check against the release's own `=> ./staging/src/...` replace block:
  replaced="$(awk '$2 == "=>" && $3 ~ /^\.\/staging\/src\// { print $1 }' "$gomod" | sort -u)"
  [[ -n "$staging" ]] || die "no k8s.io/* v0.0.0 requirements found in $gomod"
  # (the release also replaces a few staging modules it does not require, e.g.
  # sample-controller; those are irrelevant to the build and not copied)
  local unmapped; unmapped="$(comm -23 <(echo "$staging") <(echo "$replaced"))"
  [[ -z "$unmapped" ]] || die "v0.0.0 requirements without a ./staging replace in $gomod: $unmapped"
  local n; n="$(wc -l <<<"$staging")"
  log "k8s.io/kubernetes@$KUBE_VERSION: $n staging modules -> $STAGING_VERSION"
  {
    echo "// Code generated by scripts/tools/build-kube.sh from the go.mod of"
    echo "// k8s.io/kubernetes@$KUBE_VERSION. DO NOT EDIT: rerun the script"
    echo "// (IMAGEGATE_KUBE_VERSION=v1.Y.Z, or IMAGEGATE_KUBE_REGEN=1) and commit go.mod + go.sum."
    echo
    echo "module $WRAPPER_MODULE"
    echo
    # same language version and GODEBUG defaults as the release itself
    grep -E '^go [0-9]' "$gomod"
    if grep -qE '^godebug[[:space:]]' "$gomod"; then
      echo
      awk '/^godebug[[:space:]]*\($/ { b = 1 } b { print } b && /^\)/ { b = 0 } /^godebug[[:space:]]+[^(]/ { print }' "$gomod"
    fi
    echo
    echo "tool ("
    printf '\t%s\n' "$APISERVER_PKG" "$ETCD_PKG"
    echo ")"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    while read -r m; do printf '\t%s => %s %s\n' "$m" "$m" "$STAGING_VERSION"; done <<<"$staging"
    echo ")"
  } >"$out"
}

ensure_wrapper() {
  local tmp; tmp="$(mktemp)"
  generate_skeleton "$tmp"
  if [[ "${IMAGEGATE_KUBE_REGEN:-0}" != 1 && -f "$WRAPPER/go.mod" && -f "$WRAPPER/go.sum" ]] \
     && diff -q <(owned_lines "$tmp") <(owned_lines "$WRAPPER/go.mod") >/dev/null; then
    log "kube-wrapper/go.mod matches k8s.io/kubernetes@$KUBE_VERSION (not modified)"
    rm -f "$tmp"; return
  fi
  log "regenerating kube-wrapper/go.mod + go.sum for $KUBE_VERSION (commit them)"
  mkdir -p "$WRAPPER"
  if [[ -f "$WRAPPER/go.mod" ]]; then diff <(owned_lines "$WRAPPER/go.mod") <(owned_lines "$tmp") >&2 || true; fi
  mv "$tmp" "$WRAPPER/go.mod"
  chmod 644 "$WRAPPER/go.mod"
  # keep an existing go.sum as a seed; tidy prunes what is no longer needed
  (cd "$WRAPPER" && go mod tidy)
  # tidy must not have dropped or changed anything we generated
  generate_skeleton "$tmp.check"
  diff <(owned_lines "$tmp.check") <(owned_lines "$WRAPPER/go.mod") >&2 \
    || die "go mod tidy changed the generated part of kube-wrapper/go.mod"
  rm -f "$tmp.check"
}

build_date() { mod_info "k8s.io/kubernetes@$KUBE_VERSION" | json_field Time; }

build_apiserver() {
  local stage t0 ldflags bd v
  bd="$(build_date)"; bd="${bd%%.*}"; bd="${bd%Z}Z"
  ldflags="-s -w"
  # the same variables hack/lib/version.sh sets, for both component-base and client-go
  for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$KUBE_MINOR"
    ldflags+=" -X $v.gitTreeState=clean -X $v.buildDate=$bd"
  done
  stage="$(new_stage kube)"
  trap 'rm -rf "'"$stage"'"' EXIT
  t0="$(now_s)"
  log "go build -p $GO_BUILD_P $APISERVER_PKG (wrapper $WRAPPER; this takes a while on 2 cores)"
  (cd "$WRAPPER" && go build -mod=readonly -p "$GO_BUILD_P" -trimpath -ldflags "$ldflags" \
      -o "$stage/kube-apiserver" "$APISERVER_PKG")
  "$stage/kube-apiserver" --version | grep -qx "Kubernetes $KUBE_VERSION" \
    || die "kube-apiserver --version does not print Kubernetes $KUBE_VERSION: $("$stage/kube-apiserver" --version)"
  write_build_info "$stage" "tool=kube-apiserver" "package=$APISERVER_PKG@$KUBE_VERSION" \
    "staging_version=$STAGING_VERSION" "ldflags=$ldflags" "build_seconds=$(( $(now_s) - t0 ))"
  publish "$stage" "$KUBE_DIR"
  trap - EXIT
  link_bin kube-apiserver "$APISERVER"
  log "built $APISERVER in $(( $(now_s) - t0 ))s: $("$APISERVER" --version)"
}

build_etcd() {
  local ev final stage t0
  ev="$(cd "$WRAPPER" && go list -mod=readonly -m -f '{{.Version}}' "$ETCD_PKG")"
  final="$TOOLS_DIR/etcd-$ev"
  if [[ -x "$final/etcd" ]]; then link_bin etcd "$final/etcd"; log "etcd $ev already built: $final/etcd"; return; fi
  stage="$(new_stage etcd)"
  trap 'rm -rf "'"$stage"'"' EXIT
  t0="$(now_s)"
  log "go build -p $GO_BUILD_P $ETCD_PKG@$ev (from the kube wrapper's module graph)"
  (cd "$WRAPPER" && go build -mod=readonly -p "$GO_BUILD_P" -trimpath -ldflags "-s -w" \
      -o "$stage/etcd" "$ETCD_PKG")
  "$stage/etcd" --version | grep -q "^etcd Version: ${ev#v}\$" || die "built etcd does not report ${ev#v}"
  write_build_info "$stage" "tool=etcd" "package=$ETCD_PKG@$ev" "build_seconds=$(( $(now_s) - t0 ))"
  publish "$stage" "$final"
  trap - EXIT
  link_bin etcd "$final/etcd"
  log "built $final/etcd in $(( $(now_s) - t0 ))s"
}

# ---- main ---------------------------------------------------------------------------------
if [[ -x "$APISERVER" ]]; then
  link_bin kube-apiserver "$APISERVER"
  log "kube-apiserver $KUBE_VERSION already built: $APISERVER"
else
  ensure_wrapper
  build_apiserver
fi

etcd_bin=""
[[ "$ETCD_MODE" != build ]] && etcd_bin="$(resolved_etcd)"
if [[ -n "$etcd_bin" ]]; then
  link_bin etcd "$etcd_bin"
  log "etcd: $etcd_bin ($("$etcd_bin" --version | head -n1))"
else
  ensure_wrapper
  build_etcd
fi
