#!/usr/bin/env bash
# Build (or reuse from the cache) all real peer tools, then print their paths.
# Sequential on purpose: the CI machines have 2 cores and each build already uses -p 2.
# Usage: scripts/tools/build-all.sh            # idempotent; ~seconds when the cache is warm
#        IMAGEGATE_TOOLS_DIR=/some/dir scripts/tools/build-all.sh
#        IMAGEGATE_TOOLS_PRUNE=1 scripts/tools/build-all.sh   # delete the Go caches afterwards
# stdout: one `name=path` line per tool (for `eval`/sourcing by CI); logs go to stderr.
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

t_all="$(now_s)"
for s in build-kube.sh build-cosign.sh build-notation.sh; do
  t="$(now_s)"
  "$TOOLS_SCRIPT_DIR/$s"
  log "$s: $(( $(now_s) - t ))s"
done
log "all tools ready in $(( $(now_s) - t_all ))s; cache: $TOOLS_DIR"
# IMAGEGATE_TOOLS_PRUNE=1: drop the Go module/build caches (~6 GB) once the binaries exist.
# Warm runs never need them; only a pin change (a rebuild) downloads and compiles again.
if [[ "${IMAGEGATE_TOOLS_PRUNE:-0}" == 1 && -d "$TOOLS_DIR/go" ]]; then
  log "pruning $TOOLS_DIR/go ($(du -sh "$TOOLS_DIR/go" | cut -f1))"
  rm -rf "$TOOLS_DIR/go"
fi

for n in kube-apiserver etcd cosign notation; do
  [[ -x "$TOOLS_BIN/$n" ]] || die "missing $TOOLS_BIN/$n"
  printf '%s=%s\n' "$(tr 'a-z-' 'A-Z_' <<<"$n")" "$TOOLS_BIN/$n"
done
printf 'IMAGEGATE_TOOLS_BIN=%s\n' "$TOOLS_BIN"
{
  echo "  kube-apiserver: $(readlink -f "$TOOLS_BIN/kube-apiserver")  ($("$TOOLS_BIN/kube-apiserver" --version))"
  echo "  etcd:           $(readlink -f "$TOOLS_BIN/etcd")  ($("$TOOLS_BIN/etcd" --version | head -n1))"
  echo "  cosign:         $(readlink -f "$TOOLS_BIN/cosign")  ($("$TOOLS_BIN/cosign" version 2>&1 | grep GitVersion | tr -s ' '))"
  echo "  notation:       $(readlink -f "$TOOLS_BIN/notation")  ($("$TOOLS_BIN/notation" version 2>&1 | grep -m1 '^Version' | tr -s ' '))"
} >&2
