# shellcheck shell=bash
# Shared settings and helpers for the peer-tool build scripts in scripts/tools/.
# Sourced, not executed. See scripts/tools/README.md.
set -euo pipefail

# shellcheck disable=SC2034  # used by the scripts that source this file
TOOLS_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Cache root, outside the repository. Binaries live in $TOOLS_DIR/<tool>-<version>/,
# stable symlinks in $TOOLS_DIR/bin/.
TOOLS_DIR="${IMAGEGATE_TOOLS_DIR:-$HOME/.cache/imagegate-tools}"
TOOLS_BIN="$TOOLS_DIR/bin"

# Go: never download another toolchain; use a module/build cache of our own under
# $TOOLS_DIR/go so the cost is measurable and `rm -rf "$TOOLS_DIR/go"` is a safe cleanup
# (the built binaries do not need it). Both can be pointed elsewhere.
export GOTOOLCHAIN=local
export GOMODCACHE="${IMAGEGATE_GOMODCACHE:-$TOOLS_DIR/go/mod}"
export GOCACHE="${IMAGEGATE_GOCACHE:-$TOOLS_DIR/go/build}"
export GOFLAGS="-modcacherw -buildvcs=false"
export CGO_ENABLED=0
# Parallelism of `go build`/`go install` (the CI machines have 2 cores).
GO_BUILD_P="${IMAGEGATE_GO_BUILD_P:-2}"

log() { printf '[tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# require_go MAJOR.MINOR: fail unless the local go is at least that version.
require_go() {
  local want="$1" have
  command -v go >/dev/null 2>&1 || die "go not found on PATH (need Go >= $want)"
  have="$(go env GOVERSION)"; have="${have#go}"
  local hmaj hmin wmaj wmin
  IFS=. read -r hmaj hmin _ <<<"$have.0"
  IFS=. read -r wmaj wmin _ <<<"$want.0"
  if (( hmaj < wmaj || (hmaj == wmaj && hmin < wmin) )); then
    die "go $have is too old; need >= $want (GOTOOLCHAIN=local, no toolchain download)"
  fi
}

# with_lock NAME: serialise concurrent builds of the same tool (several CI jobs or
# worktrees sharing one cache). The lock is held until the calling script exits.
with_lock() {
  mkdir -p "$TOOLS_DIR/.locks"
  exec 9>"$TOOLS_DIR/.locks/$1.lock"
  if ! flock -n 9; then
    log "waiting for another build of $1 to finish"
    flock 9
  fi
}

# link_bin NAME TARGET: point $TOOLS_DIR/bin/NAME at TARGET (atomic replace).
link_bin() {
  mkdir -p "$TOOLS_BIN"
  ln -sfn "$2" "$TOOLS_BIN/.$1.tmp.$$"
  mv -T "$TOOLS_BIN/.$1.tmp.$$" "$TOOLS_BIN/$1"
}

# new_stage NAME: print a fresh staging dir inside $TOOLS_DIR; the finished dir is
# moved into place only after a successful build, so a killed build never leaves a
# half-written "cached" binary behind.
new_stage() {
  mkdir -p "$TOOLS_DIR"
  local d; d="$(mktemp -d "$TOOLS_DIR/.stage-$1.XXXXXX")"
  chmod 755 "$d"
  echo "$d"
}

# publish STAGE FINAL: move a finished staging dir into place.
publish() {
  rm -rf "$2"
  mv -T "$1" "$2"
}

# write_build_info DIR KEY=VALUE...: small provenance file next to the binary.
write_build_info() {
  local dir="$1"; shift
  {
    printf '%s\n' "$@"
    printf 'go=%s\n' "$(go env GOVERSION)"
    printf 'built_at=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'host_cpus=%s\n' "$(nproc)"
  } >"$dir/BUILD_INFO"
}

# now_s: seconds since the epoch (for timings).
now_s() { date +%s; }

# json_field NAME < json: first string value of "NAME" in `go ... -json` output
# (flat enough for go's own JSON; avoids depending on jq).
json_field() { sed -n "s/^[[:space:]]*\"$1\": \"\\(.*\\)\",\{0,1\}\$/\\1/p" | head -n1; }

# mod_info MODULE@VERSION: `go list -m -json` for a module version (works outside any module).
mod_info() { (cd / && go list -m -json "$1"); }

# go_install_tool NAME PKG@VERSION LDFLAGS: `go install` one command into
# $TOOLS_DIR/NAME-VERSION/ (staged, then published) and link $TOOLS_DIR/bin/NAME.
go_install_tool() {
  local name="$1" pkgver="$2" ldflags="$3"
  local version="${pkgver##*@}"
  local final="$TOOLS_DIR/$name-$version" stage t0
  stage="$(new_stage "$name")"
  trap 'rm -rf "'"$stage"'"' EXIT
  t0="$(now_s)"
  log "go install -p $GO_BUILD_P $pkgver (GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE)"
  (cd / && GOBIN="$stage" go install -p "$GO_BUILD_P" -trimpath -ldflags "$ldflags" "$pkgver")
  [[ -x "$stage/$name" ]] || die "go install produced no $stage/$name"
  write_build_info "$stage" "tool=$name" "package=$pkgver" "ldflags=$ldflags" \
    "build_seconds=$(( $(now_s) - t0 ))"
  publish "$stage" "$final"
  trap - EXIT
  link_bin "$name" "$final/$name"
  log "built $final/$name in $(( $(now_s) - t0 ))s"
}
