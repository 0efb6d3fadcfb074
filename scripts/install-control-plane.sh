#!/usr/bin/env bash
# install-control-plane.sh: wires imagegate into kube-apiserver on a kubeadm control-plane node.
#
#   1. copies into /etc/kubernetes/admission/: admission_config.yaml and kubeconf (rendered from
#      manifests/control-plane/), ca.crt, apiserver-client.crt and apiserver-client.key (from
#      scripts/gen-certs.sh);
#   2. backs up /etc/kubernetes/manifests/kube-apiserver.yaml (outside the manifests folder: the
#      kubelet would run any copy left in it);
#   3. edits that static pod manifest: ImagePolicyWebhook appended to --enable-admission-plugins,
#      --admission-control-config-file, and a read-only hostPath mount of the admission folder;
#   4. waits for the kubelet to restart kube-apiserver (when run on a real node).
#
# --undo removes exactly those edits; when nothing else changed since, the manifest is byte for byte
# the backup taken before the install. Running it twice changes nothing the second time.
#
# Only bash, sed, awk and coreutils are used (a control-plane node may have no python or yq). The
# script edits the layout kubeadm writes and refuses, without touching anything, when the manifest
# does not look like it.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEMPLATE_DIR="${IMAGEGATE_TEMPLATE_DIR:-$SCRIPT_DIR/../manifests/control-plane}"
# shellcheck source=lib/render-admission.sh
. "$SCRIPT_DIR/lib/render-admission.sh"
DEFAULT_MANIFEST=/etc/kubernetes/manifests/kube-apiserver.yaml

MANIFEST="${KUBE_APISERVER_MANIFEST:-$DEFAULT_MANIFEST}"
ADMISSION_DIR="${IMAGEGATE_ADMISSION_DIR:-}"
BACKUP_DIR="${IMAGEGATE_BACKUP_DIR:-}"
CERTS_DIR="${IMAGEGATE_CERT_DIR:-certs}"
SERVER_URL="${IMAGEGATE_SERVER_URL:-}"
NODE_PORT=30080
WEBHOOK_PATH=/image_policy
MODE=install
DRY_RUN=0
WAIT=auto
WAIT_TIMEOUT=240
ADMIN_KUBECONFIG="${IMAGEGATE_ADMIN_KUBECONFIG:-/etc/kubernetes/admin.conf}"

PLUGIN=ImagePolicyWebhook
VOLUME_NAME=imagegate-admission
PLUGINS_PREFIX="    - --enable-admission-plugins="
CONFIG_PREFIX="    - --admission-control-config-file="
COMMAND_LINE="    - kube-apiserver"
MOUNTS_LINE="    volumeMounts:"
VOLUMES_LINE="  volumes:"

usage() {
  cat <<EOF
Usage: sudo scripts/install-control-plane.sh [--certs DIR] [--server URL] [--dry-run] [--no-wait]
       sudo scripts/install-control-plane.sh --undo [--dry-run] [--no-wait]

Puts ImagePolicyWebhook with imagegate into kube-apiserver on a kubeadm control-plane node.

  --certs DIR          output of scripts/gen-certs.sh (default ./certs; env IMAGEGATE_CERT_DIR):
                       ca.crt, apiserver-client.crt, apiserver-client.key (server.crt is used to
                       check that it has a SAN for the --server host)
  --server URL         where the apiserver reaches imagegate (env IMAGEGATE_SERVER_URL); default
                       https://<the manifest's --advertise-address>:$NODE_PORT$WEBHOOK_PATH
  --undo               remove the ImagePolicyWebhook changes from the manifest again
  --dry-run            show the manifest diff and the files, change nothing
  --wait | --no-wait   wait (or not) for kube-apiserver to restart and be ready; default: wait
                       when the manifest is $DEFAULT_MANIFEST and crictl is present
  --wait-timeout SEC   how long to wait (default $WAIT_TIMEOUT)
  --manifest FILE      the static pod manifest (env KUBE_APISERVER_MANIFEST; default
                       $DEFAULT_MANIFEST)
  --admission-dir DIR  where the files go and what is mounted into the apiserver (env
                       IMAGEGATE_ADMISSION_DIR; default $TEMPLATE_ADMISSION_DIR)
  --backup-dir DIR     where backups go (env IMAGEGATE_BACKUP_DIR; default: imagegate-backup next
                       to the manifests folder, i.e. /etc/kubernetes/imagegate-backup)
  -h, --help           this text
EOF
}

say() { echo "install-control-plane: $*" >&2; }
die() { echo "install-control-plane: $*" >&2; exit 1; }
usage_error() { echo "install-control-plane: $*" >&2; echo "Run with --help for usage." >&2; exit 2; }
refuse() {
  echo "install-control-plane: refusing: $*" >&2
  echo "install-control-plane: nothing was changed. This script only edits the layout kubeadm writes;" >&2
  echo "install-control-plane: to make the change by hand, see docs/cks-guide.md (\"By hand\")." >&2
  exit 1
}
need_arg() { [[ $# -ge 2 && -n "$2" ]] || usage_error "$1 needs a value"; }

ADMISSION_DIR_GIVEN=0
[[ -n "$ADMISSION_DIR" ]] && ADMISSION_DIR_GIVEN=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --certs) need_arg "$@"; CERTS_DIR=$2; shift 2 ;;
    --certs=*) CERTS_DIR=${1#*=}; shift ;;
    --server) need_arg "$@"; SERVER_URL=$2; shift 2 ;;
    --server=*) SERVER_URL=${1#*=}; shift ;;
    --manifest) need_arg "$@"; MANIFEST=$2; shift 2 ;;
    --manifest=*) MANIFEST=${1#*=}; shift ;;
    --admission-dir) need_arg "$@"; ADMISSION_DIR=$2; ADMISSION_DIR_GIVEN=1; shift 2 ;;
    --admission-dir=*) ADMISSION_DIR=${1#*=}; ADMISSION_DIR_GIVEN=1; shift ;;
    --backup-dir) need_arg "$@"; BACKUP_DIR=$2; shift 2 ;;
    --backup-dir=*) BACKUP_DIR=${1#*=}; shift ;;
    --undo) MODE=undo; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    --wait) WAIT=1; shift ;;
    --no-wait) WAIT=0; shift ;;
    --wait-timeout) need_arg "$@"; WAIT_TIMEOUT=$2; shift 2 ;;
    --wait-timeout=*) WAIT_TIMEOUT=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
done

[[ "$WAIT_TIMEOUT" =~ ^[1-9][0-9]{0,4}$ ]] || usage_error "--wait-timeout must be a number of seconds"
# Paths end up in the manifest and the kubeconf as plain YAML scalars: no characters needing quotes.
SAFE_PATH='^/[A-Za-z0-9._/+@=-]*$'
[[ -f "$MANIFEST" ]] || die "$MANIFEST does not exist (is this a kubeadm control-plane node? use --manifest FILE)"
MANIFEST="$(cd "$(dirname "$MANIFEST")" && pwd)/$(basename "$MANIFEST")"
MANIFEST_DIR=$(dirname "$MANIFEST")
[[ -n "$BACKUP_DIR" ]] || BACKUP_DIR="$(dirname "$MANIFEST_DIR")/imagegate-backup"
[[ "$BACKUP_DIR" == /* ]] || BACKUP_DIR="$(pwd)/$BACKUP_DIR"
BACKUP_DIR=${BACKUP_DIR%/}
[[ "$BACKUP_DIR" != "$MANIFEST_DIR" && "$BACKUP_DIR" != "$MANIFEST_DIR"/* ]] ||
  usage_error "--backup-dir must be outside $MANIFEST_DIR: the kubelet reads every file there"
ORIG_BACKUP="$BACKUP_DIR/kube-apiserver.yaml.before-imagegate"

TMPFILES=()
cleanup() { [[ ${#TMPFILES[@]} -eq 0 ]] || rm -f -- "${TMPFILES[@]}"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# A scratch file; in_dir puts it beside its destination, dot-named so the kubelet ignores it.
scratch() {
  local dir=${1:-${TMPDIR:-/tmp}} f
  f=$(mktemp "$dir/.imagegate.XXXXXX")
  TMPFILES+=("$f")
  echo "$f"
}

# --- Reading the manifest -------------------------------------------------------------------------
count_exact() { grep -cxF -- "$2" "$1" || true; }
count_prefix() { awk -v p="$2" 'index($0, p) == 1 { c++ } END { print c + 0 }' "$1"; }
line_after() { awk -v l="$2" 'f { print; exit } $0 == l { f = 1 }' "$1"; }
prefix_value() { awk -v p="$2" 'index($0, p) == 1 { print substr($0, length(p) + 1); exit }' "$1"; }
# has_block FILE LINE...: the lines occur consecutively in FILE.
has_block() {
  local file=$1 n i j
  shift
  local -a want=("$@") lines
  mapfile -t lines <"$file"
  n=${#lines[@]}
  for ((i = 0; i + ${#want[@]} <= n; i++)); do
    for ((j = 0; j < ${#want[@]}; j++)); do
      [[ "${lines[i + j]}" == "${want[j]}" ]] || continue 2
    done
    return 0
  done
  return 1
}
# list_has "A,B,C" B
list_has() { [[ ",$1," == *",$2,"* ]]; }
# The hostPath of an existing imagegate-admission volume in kubeadm's layout, if any.
existing_volume_path() {
  awk -v name="    name: $VOLUME_NAME" '
    /^  - hostPath:$/ { p = ""; t = 1; next }
    /^  - / { p = ""; t = 0; next }
    t && /^      path: / { p = substr($0, 13); next }
    $0 == name && p != "" { print p; exit }
  ' "$1"
}

# --- The edit, and its inverse ---------------------------------------------------------------------
set_blocks() {
  CFG_FILE="$ADMISSION_DIR/admission_config.yaml"
  CONFIG_LINE="$CONFIG_PREFIX$CFG_FILE"
  MOUNT_BLOCK=("    - mountPath: $ADMISSION_DIR" "      name: $VOLUME_NAME" "      readOnly: true")
  VOLUME_BLOCK=("  - hostPath:" "      path: $ADMISSION_DIR" "      type: Directory" "    name: $VOLUME_NAME")
}

# check_layout FILE: kubeadm's layout, and nothing of ours in a form we would not recognise.
check_layout() {
  local f=$1 n value
  [[ -r "$f" ]] || die "cannot read $f (run as root)"
  if grep -q $'\r' "$f"; then refuse "$f has CRLF line endings"; fi
  [[ "$(count_exact "$f" "kind: Pod")" -eq 1 ]] || refuse "$f is not a single Pod manifest"
  n=$(count_exact "$f" "$COMMAND_LINE")
  [[ "$n" -eq 1 ]] || refuse "expected one '$COMMAND_LINE' command line in $f, found $n"
  n=$(count_exact "$f" "$MOUNTS_LINE")
  [[ "$n" -eq 1 ]] || refuse "expected one '$MOUNTS_LINE' line (one container) in $f, found $n"
  [[ "$(line_after "$f" "$MOUNTS_LINE")" == "    - "* ]] || refuse "the volumeMounts list in $f is not in kubeadm's layout"
  n=$(count_exact "$f" "$VOLUMES_LINE")
  [[ "$n" -eq 1 ]] || refuse "expected one '$VOLUMES_LINE' line in $f, found $n"
  [[ "$(line_after "$f" "$VOLUMES_LINE")" == "  - "* ]] || refuse "the volumes list in $f is not in kubeadm's layout"
  n=$(count_prefix "$f" "$PLUGINS_PREFIX")
  [[ "$n" -le 1 ]] || refuse "--enable-admission-plugins appears $n times in $f"
  [[ "$(count_prefix "$f" "    - --admission-control=")" -eq 0 ]] || refuse "$f uses the removed --admission-control flag"
  value=$(prefix_value "$f" "    - --disable-admission-plugins=")
  if list_has "$value" "$PLUGIN"; then refuse "$f disables $PLUGIN (--disable-admission-plugins)"; fi
  n=$(count_prefix "$f" "$CONFIG_PREFIX")
  [[ "$n" -le 1 ]] || refuse "--admission-control-config-file appears $n times in $f"
  if [[ "$n" -eq 1 && "$(count_exact "$f" "$CONFIG_LINE")" -ne 1 ]]; then
    value=$(prefix_value "$f" "$CONFIG_PREFIX")
    refuse "kube-apiserver already uses --admission-control-config-file=$value; add the ImagePolicyWebhook entry of manifests/control-plane/admission_config.yaml to that file by hand"
  fi
  if [[ "$(count_exact "$f" "      name: $VOLUME_NAME")" -gt 0 ]] && ! has_block "$f" "${MOUNT_BLOCK[@]}"; then
    refuse "$f has a volumeMount named $VOLUME_NAME that is not the one this script writes"
  fi
  if [[ "$(count_exact "$f" "    name: $VOLUME_NAME")" -gt 0 ]] && ! has_block "$f" "${VOLUME_BLOCK[@]}"; then
    refuse "$f has a volume named $VOLUME_NAME that is not the one this script writes (different --admission-dir? undo with that one first)"
  fi
  return 0
}

# apply_install IN OUT: OUT = IN with the plugin, the flag, the mount and the volume; unchanged
# parts are copied byte for byte, and IN itself when there is nothing to add.
apply_install() {
  local in=$1 out=$2 plugin_mode=none config_mode=none mount_mode=none volume_mode=none value line
  local -a lines result
  if [[ "$(count_prefix "$in" "$PLUGINS_PREFIX")" -eq 0 ]]; then
    plugin_mode=insert
  else
    value=$(prefix_value "$in" "$PLUGINS_PREFIX")
    list_has "$value" "$PLUGIN" || plugin_mode=append
  fi
  [[ "$(count_exact "$in" "$CONFIG_LINE")" -eq 1 ]] || config_mode=insert
  has_block "$in" "${MOUNT_BLOCK[@]}" || mount_mode=insert
  has_block "$in" "${VOLUME_BLOCK[@]}" || volume_mode=insert
  if [[ "$plugin_mode$config_mode$mount_mode$volume_mode" == nonenonenonenone ]]; then
    cat -- "$in" >"$out"
    return 0
  fi
  mapfile -t lines <"$in"
  result=()
  for line in "${lines[@]}"; do
    if [[ $plugin_mode == append && "$line" == "$PLUGINS_PREFIX"* ]]; then
      if [[ "$line" == "$PLUGINS_PREFIX" ]]; then line="$line$PLUGIN"; else line="$line,$PLUGIN"; fi
    fi
    result+=("$line")
    if [[ "$line" == "$COMMAND_LINE" ]]; then
      # kubeadm sorts the flags: --admission-control-config-file comes first.
      [[ $config_mode == insert ]] && result+=("$CONFIG_LINE")
      [[ $plugin_mode == insert ]] && result+=("$PLUGINS_PREFIX$PLUGIN")
    fi
    [[ "$line" == "$MOUNTS_LINE" && $mount_mode == insert ]] && result+=("${MOUNT_BLOCK[@]}")
    [[ "$line" == "$VOLUMES_LINE" && $volume_mode == insert ]] && result+=("${VOLUME_BLOCK[@]}")
  done
  printf '%s\n' "${result[@]}" >"$out"
}

# apply_undo IN OUT KEEP: OUT = IN without what apply_install adds. KEEP names the parts that were
# there before the install (from the backup) and so stay: plugin, config, mount, volume.
apply_undo() {
  local in=$1 out=$2 keep=" $3 " i n changed=0 line value rest
  local -a lines result tokens kept
  mapfile -t lines <"$in"
  n=${#lines[@]}
  result=()
  i=0
  while ((i < n)); do
    line=${lines[i]}
    if [[ $keep != *" mount "* && "$line" == "${MOUNT_BLOCK[0]}" ]] && block_at "$i" "${MOUNT_BLOCK[@]}"; then
      i=$((i + ${#MOUNT_BLOCK[@]})); changed=1; continue
    fi
    if [[ $keep != *" volume "* && "$line" == "${VOLUME_BLOCK[0]}" ]] && block_at "$i" "${VOLUME_BLOCK[@]}"; then
      i=$((i + ${#VOLUME_BLOCK[@]})); changed=1; continue
    fi
    if [[ $keep != *" config "* && "$line" == "$CONFIG_LINE" ]]; then
      i=$((i + 1)); changed=1; continue
    fi
    if [[ $keep != *" plugin "* && "$line" == "$PLUGINS_PREFIX"* ]]; then
      value=${line#"$PLUGINS_PREFIX"}
      if list_has "$value" "$PLUGIN"; then
        IFS=, read -r -a tokens <<<"$value"
        kept=()
        for rest in "${tokens[@]}"; do [[ "$rest" == "$PLUGIN" ]] || kept+=("$rest"); done
        changed=1
        if [[ ${#kept[@]} -eq 0 ]]; then i=$((i + 1)); continue; fi
        line="$PLUGINS_PREFIX$(IFS=,; echo "${kept[*]}")"
      fi
    fi
    result+=("$line")
    i=$((i + 1))
  done
  if [[ $changed -eq 0 ]]; then cat -- "$in" >"$out"; return 0; fi
  if [[ ${#result[@]} -eq 0 ]]; then : >"$out"; else printf '%s\n' "${result[@]}" >"$out"; fi
}
# block_at I LINE...: lines[I..] (of the caller's `lines`) start with the given lines.
block_at() {
  local start=$1 k
  shift
  for ((k = 0; k < $#; k++)); do
    local want_k=$((k + 1))
    [[ "${lines[start + k]-}" == "${!want_k}" ]] || return 1
  done
}

# write_manifest NEW: replace MANIFEST atomically (rename in the same folder), keeping its mode.
write_manifest() {
  local new=$1 tmp
  tmp=$(scratch "$MANIFEST_DIR")
  cat -- "$new" >"$tmp"
  chmod --reference="$MANIFEST" "$tmp" 2>/dev/null || chmod 600 "$tmp"
  chown --reference="$MANIFEST" "$tmp" 2>/dev/null || true
  mv -f -- "$tmp" "$MANIFEST"
}

backup_manifest() {
  local stamp
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  mkdir -p "$BACKUP_DIR"
  chmod 700 "$BACKUP_DIR"
  cp -p -- "$MANIFEST" "$BACKUP_DIR/kube-apiserver.yaml.$stamp"
  say "backed up $MANIFEST to $BACKUP_DIR/kube-apiserver.yaml.$stamp"
}

show_diff() {
  if command -v diff >/dev/null 2>&1; then
    diff -u --label "$MANIFEST" --label "$MANIFEST (new)" "$1" "$2" || true
  else
    say "(diff is not installed; the new manifest would be:)"
    cat -- "$2"
  fi
}

# --- Waiting for the kubelet to restart kube-apiserver ---------------------------------------------
apiserver_container() { crictl ps --name '^kube-apiserver$' --state running -q 2>/dev/null | head -n 1 || true; }
apiserver_ready() {
  local port
  if command -v kubectl >/dev/null 2>&1 && [[ -r "$ADMIN_KUBECONFIG" ]]; then
    kubectl --kubeconfig "$ADMIN_KUBECONFIG" get --raw=/readyz >/dev/null 2>&1
  elif command -v curl >/dev/null 2>&1; then
    port=$(prefix_value "$MANIFEST" "    - --secure-port=")
    curl -ksf --max-time 3 "https://127.0.0.1:${port:-6443}/readyz" >/dev/null 2>&1
  else
    return 0
  fi
}
should_wait() {
  case "$WAIT" in
    1) command -v crictl >/dev/null 2>&1 || { say "crictl not found: not waiting"; return 1; } ;;
    0) return 1 ;;
    auto) [[ "$MANIFEST" == "$DEFAULT_MANIFEST" ]] && command -v crictl >/dev/null 2>&1 || return 1 ;;
  esac
}
wait_for_restart() {
  local old=$1 deadline now id
  deadline=$(($(date +%s) + WAIT_TIMEOUT))
  say "waiting up to ${WAIT_TIMEOUT}s for the kubelet to restart kube-apiserver (--no-wait to skip)"
  while :; do
    id=$(apiserver_container)
    if [[ -n "$id" && "$id" != "$old" ]] && apiserver_ready; then
      say "kube-apiserver is back (container ${id:0:13}) and ready"
      return 0
    fi
    now=$(date +%s)
    if ((now >= deadline)); then
      say "kube-apiserver did not come back within ${WAIT_TIMEOUT}s. Look at:"
      say "  crictl ps -a --name kube-apiserver; crictl logs <container id>"
      say "  ls /var/log/pods/ | grep kube-apiserver; journalctl -u kubelet | tail"
      say "  and undo with: $0 --undo"
      return 3
    fi
    sleep 2
  done
}

# --- Install ---------------------------------------------------------------------------------------
advertise_address() { prefix_value "$MANIFEST" "    - --advertise-address="; }

default_server_url() {
  local host
  host=$(advertise_address)
  if [[ -z "$host" ]]; then
    say "warning: no --advertise-address in $MANIFEST; using 127.0.0.1 (needs kube-proxy's iptables mode)"
    host=127.0.0.1
  fi
  [[ "$host" == *:* ]] && host="[$host]"
  echo "https://$host:$NODE_PORT$WEBHOOK_PATH"
}


# check_certs: the files exist, belong together, and the server certificate names the --server host.
check_certs() {
  local f host san out
  for f in ca.crt apiserver-client.crt apiserver-client.key; do
    [[ -s "$CERTS_DIR/$f" ]] || die "$CERTS_DIR/$f is missing: run scripts/gen-certs.sh --out $CERTS_DIR first (or pass --certs DIR)"
  done
  command -v openssl >/dev/null 2>&1 || { say "openssl not found: not checking the certificates"; return 0; }
  [[ "$(openssl verify -CAfile "$CERTS_DIR/ca.crt" -purpose sslclient "$CERTS_DIR/apiserver-client.crt" 2>&1)" == *": OK" ]] ||
    die "$CERTS_DIR/apiserver-client.crt is not a client certificate signed by $CERTS_DIR/ca.crt"
  [[ "$(openssl x509 -in "$CERTS_DIR/apiserver-client.crt" -noout -pubkey 2>/dev/null)" == "$(openssl pkey -in "$CERTS_DIR/apiserver-client.key" -pubout 2>/dev/null)" ]] ||
    die "$CERTS_DIR/apiserver-client.key does not match apiserver-client.crt"
  if [[ ! -s "$CERTS_DIR/server.crt" ]]; then
    say "note: no $CERTS_DIR/server.crt, so the SAN for the --server host is not checked"
    return 0
  fi
  [[ "$(openssl verify -CAfile "$CERTS_DIR/ca.crt" -purpose sslserver "$CERTS_DIR/server.crt" 2>&1)" == *": OK" ]] ||
    die "$CERTS_DIR/server.crt is not a serving certificate signed by $CERTS_DIR/ca.crt"
  host=${SERVER_URL#https://}
  host=${host%%/*}
  if [[ "$host" == \[* ]]; then host=${host#[}; host=${host%%]*}; else host=${host%:*}; fi
  if [[ "$host" =~ ^[0-9.]+$ || "$host" == *:* ]]; then
    san="IP:$host"; out=$(openssl x509 -in "$CERTS_DIR/server.crt" -noout -checkip "$host" 2>/dev/null || true)
  else
    san="DNS:$host"; out=$(openssl x509 -in "$CERTS_DIR/server.crt" -noout -checkhost "$host" 2>/dev/null || true)
  fi
  [[ "$out" == *" does match certificate"* ]] ||
    die "$CERTS_DIR/server.crt has no SAN for $host, so the apiserver would reject imagegate's certificate. Run: scripts/gen-certs.sh --out $CERTS_DIR --san $san, then kubectl apply -f $CERTS_DIR/imagegate-tls-secret.yaml"
}

# put_file SRC NAME MODE: SRC becomes ADMISSION_DIR/NAME unless that already has the same bytes.
put_file() {
  local src=$1 name=$2 mode=$3 tmp
  if [[ -f "$ADMISSION_DIR/$name" ]] && cmp -s -- "$src" "$ADMISSION_DIR/$name"; then
    chmod "$mode" "$ADMISSION_DIR/$name"
    return 0
  fi
  tmp=$(scratch "$ADMISSION_DIR")
  cat -- "$src" >"$tmp"
  chmod "$mode" "$tmp"
  mv -f -- "$tmp" "$ADMISSION_DIR/$name"
  WROTE+=("$name")
}

do_install() {
  local new
  check_layout "$MANIFEST"
  [[ -n "$SERVER_URL" ]] || SERVER_URL=$(default_server_url)
  [[ "$SERVER_URL" =~ ^https://[^[:space:]\"\'#]+$ ]] || usage_error "--server must be an https:// URL without spaces, quotes or '#'"
  [[ -f "$TEMPLATE_DIR/kubeconf" && -f "$TEMPLATE_DIR/admission_config.yaml" ]] ||
    die "templates not found in $TEMPLATE_DIR (run the script from the imagegate repository)"
  check_certs

  local kubeconf cfg
  kubeconf=$(scratch)
  cfg=$(scratch)
  render_admission_template "$SERVER_URL" "$ADMISSION_DIR" "$TEMPLATE_DIR/kubeconf" "$kubeconf"
  render_admission_template "$SERVER_URL" "$ADMISSION_DIR" "$TEMPLATE_DIR/admission_config.yaml" "$cfg"
  new=$(scratch)
  apply_install "$MANIFEST" "$new"

  if [[ $DRY_RUN -eq 1 ]]; then
    say "dry run: would write $ADMISSION_DIR/{admission_config.yaml,kubeconf,ca.crt,apiserver-client.crt,apiserver-client.key} (server: $SERVER_URL)"
    if cmp -s -- "$new" "$MANIFEST"; then say "dry run: $MANIFEST already has every change"; else show_diff "$MANIFEST" "$new"; fi
    return 0
  fi

  [[ -w "$MANIFEST_DIR" ]] || die "cannot write $MANIFEST_DIR (run as root)"
  # The files first: the apiserver must find them the moment the kubelet restarts it.
  WROTE=()
  mkdir -p "$ADMISSION_DIR" || die "cannot create $ADMISSION_DIR (run as root)"
  chmod 700 "$ADMISSION_DIR"
  put_file "$cfg" admission_config.yaml 644
  put_file "$kubeconf" kubeconf 644
  put_file "$CERTS_DIR/ca.crt" ca.crt 644
  put_file "$CERTS_DIR/apiserver-client.crt" apiserver-client.crt 644
  put_file "$CERTS_DIR/apiserver-client.key" apiserver-client.key 600
  if [[ ${#WROTE[@]} -gt 0 ]]; then say "wrote ${WROTE[*]} in $ADMISSION_DIR (server: $SERVER_URL)"; else say "$ADMISSION_DIR is up to date (server: $SERVER_URL)"; fi

  if cmp -s -- "$new" "$MANIFEST"; then
    say "$MANIFEST already has $PLUGIN, the config flag and the mount: unchanged"
    if [[ ${#WROTE[@]} -gt 0 ]]; then
      say "note: kube-apiserver reads these files only at start; restart it to use them: crictl stop \$(crictl ps -q --name kube-apiserver) (the kubelet starts it again)"
    fi
    return 0
  fi

  if [[ "$(count_exact "$MANIFEST" "$CONFIG_LINE")" -eq 0 ]] && ! has_block "$MANIFEST" "${MOUNT_BLOCK[@]}" && ! has_block "$MANIFEST" "${VOLUME_BLOCK[@]}"; then
    mkdir -p "$BACKUP_DIR"
    chmod 700 "$BACKUP_DIR"
    cp -p -- "$MANIFEST" "$ORIG_BACKUP"
  fi
  replace_manifest "$new" report_install
}

report_install() {
  say "edited $MANIFEST: --enable-admission-plugins=$(prefix_value "$MANIFEST" "$PLUGINS_PREFIX"), --admission-control-config-file=$CFG_FILE, hostPath mount $ADMISSION_DIR"
  say "undo with: $0 --undo"
}

# --- Undo ------------------------------------------------------------------------------------------
do_undo() {
  local new keep="" existing
  [[ -r "$MANIFEST" ]] || die "cannot read $MANIFEST (run as root)"
  if [[ $ADMISSION_DIR_GIVEN -eq 0 ]]; then
    existing=$(existing_volume_path "$MANIFEST")
    if [[ -n "$existing" && "$existing" != "$ADMISSION_DIR" ]]; then
      ADMISSION_DIR=$existing
      set_blocks
    fi
  fi
  if [[ -f "$ORIG_BACKUP" ]]; then
    # What was there before the install stays.
    if list_has "$(prefix_value "$ORIG_BACKUP" "$PLUGINS_PREFIX")" "$PLUGIN"; then keep+=" plugin"; fi
    if [[ "$(count_exact "$ORIG_BACKUP" "$CONFIG_LINE")" -gt 0 ]]; then keep+=" config"; fi
    if has_block "$ORIG_BACKUP" "${MOUNT_BLOCK[@]}"; then keep+=" mount"; fi
    if has_block "$ORIG_BACKUP" "${VOLUME_BLOCK[@]}"; then keep+=" volume"; fi
  else
    say "note: no backup $ORIG_BACKUP; removing $PLUGIN and imagegate's flag and mount"
  fi
  new=$(scratch)
  apply_undo "$MANIFEST" "$new" "$keep"

  if cmp -s -- "$new" "$MANIFEST"; then
    say "$MANIFEST has none of imagegate's changes: nothing to undo"
    return 0
  fi
  if [[ $DRY_RUN -eq 1 ]]; then
    show_diff "$MANIFEST" "$new"
    return 0
  fi
  [[ -w "$MANIFEST_DIR" ]] || die "cannot write $MANIFEST_DIR (run as root)"
  replace_manifest "$new" report_undo
}

report_undo() {
  if [[ -f "$ORIG_BACKUP" ]]; then
    if cmp -s -- "$MANIFEST" "$ORIG_BACKUP"; then
      say "restored $MANIFEST: identical to $ORIG_BACKUP"
    else
      say "removed imagegate's changes from $MANIFEST; it still differs from $ORIG_BACKUP in lines changed since the install, which were kept"
    fi
  else
    say "removed imagegate's changes from $MANIFEST"
  fi
  say "$ADMISSION_DIR was left in place (delete it when you no longer need it)"
}

# replace_manifest NEW REPORT: backs the manifest up, writes NEW over it, runs the function REPORT
# (what was done), then, with --wait, waits for the kubelet to restart kube-apiserver.
replace_manifest() {
  local new=$1 report=$2 old_id=""
  backup_manifest
  if should_wait; then
    old_id=$(apiserver_container)
    [[ -n "$old_id" ]] || say "crictl lists no running kube-apiserver container: not waiting"
  fi
  write_manifest "$new"
  "$report"
  if [[ -n "$old_id" ]]; then wait_for_restart "$old_id"; else say "the kubelet restarts kube-apiserver by itself within a minute or so"; fi
}

# --- Main ------------------------------------------------------------------------------------------
[[ -n "$ADMISSION_DIR" ]] || ADMISSION_DIR=$TEMPLATE_ADMISSION_DIR
[[ "$ADMISSION_DIR" == /* ]] || ADMISSION_DIR="$(pwd)/$ADMISSION_DIR"
ADMISSION_DIR=${ADMISSION_DIR%/}
[[ "$ADMISSION_DIR" =~ $SAFE_PATH && "$BACKUP_DIR" =~ $SAFE_PATH ]] ||
  usage_error "use only letters, digits and ._/+@=- in --admission-dir and --backup-dir"
[[ "$ADMISSION_DIR" != "$MANIFEST_DIR" && "$ADMISSION_DIR" != "$MANIFEST_DIR"/* ]] ||
  usage_error "--admission-dir must be outside $MANIFEST_DIR: the kubelet reads every file there"
set_blocks

case "$MODE" in
  install) do_install ;;
  undo) do_undo ;;
esac
