#!/usr/bin/env bash
# Build cosign (sigstore) from the Go module proxy into the tool cache.
# Idempotent: does nothing if $TOOLS_DIR/cosign-$COSIGN_VERSION/cosign already exists.
#
# cosign v2's go.mod has no replace/exclude directives, so plain
# `go install github.com/sigstore/cosign/v2/cmd/cosign@VERSION` works (no wrapper module).
# Its go.mod says `go 1.25.0`, so Go >= 1.25 is required (GOTOOLCHAIN=local).
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

COSIGN_VERSION="${IMAGEGATE_COSIGN_VERSION:-v2.6.5}"
COSIGN_MODULE="github.com/sigstore/cosign/v2"
BIN="$TOOLS_DIR/cosign-$COSIGN_VERSION/cosign"

if [[ -x "$BIN" ]]; then
  link_bin cosign "$BIN"
  log "cosign $COSIGN_VERSION already built: $BIN"
  exit 0
fi

with_lock cosign
if [[ -x "$BIN" ]]; then link_bin cosign "$BIN"; exit 0; fi   # built while we waited

require_go 1.25
build_date="$(mod_info "$COSIGN_MODULE@$COSIGN_VERSION" | json_field Time)"
rv=sigs.k8s.io/release-utils/version
go_install_tool cosign "$COSIGN_MODULE/cmd/cosign@$COSIGN_VERSION" \
  "-s -w -X $rv.gitVersion=$COSIGN_VERSION -X $rv.gitTreeState=clean -X $rv.buildDate=${build_date:-unknown}"

"$BIN" version 2>&1 | grep -q "GitVersion:[[:space:]]*$COSIGN_VERSION\$" \
  || die "$BIN version does not report $COSIGN_VERSION"
log "cosign OK: $("$BIN" version 2>&1 | grep GitVersion)"
