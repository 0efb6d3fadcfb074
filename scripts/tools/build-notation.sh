#!/usr/bin/env bash
# Build notation (Notary Project v2 CLI) from the Go module proxy into the tool cache.
# Idempotent: does nothing if $TOOLS_DIR/notation-$NOTATION_VERSION/notation already exists.
#
# notation's go.mod has no replace/exclude directives, so plain
# `go install github.com/notaryproject/notation/cmd/notation@VERSION` works.
# Note: the module proxy reachable here serves only some tags of this module
# (v1.3.2 yes; v1.1.x, v1.2.x, v1.3.0/1/3, v1.4.x answer 403), hence the pin.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NOTATION_VERSION="${IMAGEGATE_NOTATION_VERSION:-v1.3.2}"
NOTATION_MODULE="github.com/notaryproject/notation"
BIN="$TOOLS_DIR/notation-$NOTATION_VERSION/notation"

if [[ -x "$BIN" ]]; then
  link_bin notation "$BIN"
  log "notation $NOTATION_VERSION already built: $BIN"
  exit 0
fi

with_lock notation
if [[ -x "$BIN" ]]; then link_bin notation "$BIN"; exit 0; fi

require_go 1.23
commit="$(mod_info "$NOTATION_MODULE@$NOTATION_VERSION" | json_field Hash)"
# Same variables as upstream's Makefile; empty BuildMetadata = a release build
# (`notation version` then prints plain "v1.3.2", not "v1.3.2+unreleased").
iv="$NOTATION_MODULE/internal/version"
go_install_tool notation "$NOTATION_MODULE/cmd/notation@$NOTATION_VERSION" \
  "-s -w -X $iv.BuildMetadata= -X $iv.GitCommit=${commit}"

"$BIN" version 2>&1 | grep -Eq "^Version:[[:space:]]+v?${NOTATION_VERSION#v}\$" \
  || die "$BIN version does not report $NOTATION_VERSION"
log "notation OK: $("$BIN" version 2>&1 | grep -m1 Version)"
