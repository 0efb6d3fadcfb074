#!/usr/bin/env bash
# gen-certs.sh: the PKI that puts imagegate behind kube-apiserver's ImagePolicyWebhook, with openssl
# only.
#
#   ca.crt, ca.key                        a CA (basicConstraints critical CA:TRUE)
#   server.crt, server.key                imagegate's serving certificate (EKU serverAuth), with a SAN
#                                         for every name and IP the apiserver may dial
#   apiserver-client.crt, .key            the certificate kube-apiserver presents (EKU clientAuth)
#   imagegate-tls-secret.yaml             Secret imagegate/imagegate-tls (tls.crt, tls.key, ca.crt)
#                                         for manifests/deployment.yaml
#   kubeconf, admission_config.yaml       only with --kubeconf-server: the control-plane files,
#                                         rendered from manifests/control-plane/
#
# Idempotent: a file that is still valid (matching key, signed by ca.crt, right EKU, every requested
# SAN, not expiring within 30 days) is kept; only what is missing or invalid is (re)issued. --force
# issues everything anew. Contract: shared/spec/contract.md §2 (SANs, mTLS) and §7.3 (kubeconfig).
set -euo pipefail
umask 077

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEMPLATE_DIR="${IMAGEGATE_TEMPLATE_DIR:-$SCRIPT_DIR/../manifests/control-plane}"
# shellcheck source=lib/render-admission.sh
. "$SCRIPT_DIR/lib/render-admission.sh"

OUT="${IMAGEGATE_CERT_DIR:-certs}"
NODE_IP="${IMAGEGATE_NODE_IP:-auto}"
MANIFEST="${KUBE_APISERVER_MANIFEST:-/etc/kubernetes/manifests/kube-apiserver.yaml}"
KEY_TYPE="${IMAGEGATE_KEY_TYPE:-ec}"
DAYS="${IMAGEGATE_CERT_DAYS:-365}"
CA_DAYS="${IMAGEGATE_CA_DAYS:-3650}"
FORCE=0
KUBECONF_SERVER=""
KUBECONF_DIR=""
NAMESPACE=imagegate
SERVICE=imagegate
SECRET=imagegate-tls
CLIENT_CN=kube-apiserver-imagepolicy
RENEW_BEFORE_DAYS=30
EXTRA_SANS=()
if [[ -n "${IMAGEGATE_EXTRA_SANS:-}" ]]; then
  IFS=', ' read -r -a EXTRA_SANS <<<"$IMAGEGATE_EXTRA_SANS"
fi

usage() {
  cat <<EOF
Usage: scripts/gen-certs.sh [--out DIR] [--node-ip IP|auto|none] [--san IP:a.b.c.d|DNS:name]...
                            [--force] [--key-type ec|rsa] [--days N] [--ca-days N]
                            [--kubeconf-server URL [--kubeconf-dir DIR]]

Writes into DIR (default ./certs): ca.crt ca.key server.crt server.key apiserver-client.crt
apiserver-client.key and imagegate-tls-secret.yaml (kubectl apply -f it).

Serving certificate SANs: 127.0.0.1, localhost, imagegate, imagegate.imagegate,
imagegate.imagegate.svc, imagegate.imagegate.svc.cluster.local, the node IP, and every --san.

  --out DIR             output folder (env IMAGEGATE_CERT_DIR)
  --node-ip IP          the control-plane node's IP, which the apiserver dials on NodePort 30080
                        (env IMAGEGATE_NODE_IP). 'auto' (default): the --advertise-address of
                        \$KUBE_APISERVER_MANIFEST (default /etc/kubernetes/manifests/kube-apiserver.yaml)
                        when it is readable; 'none': no node IP.
  --san IP:x | DNS:y    one more SAN; repeatable (env IMAGEGATE_EXTRA_SANS, comma-separated)
  --force               issue the CA and both certificates anew even when they are valid
  --key-type ec|rsa     ECDSA P-256 (default) or RSA 2048, for newly issued keys
  --days N              validity of the two certificates (default 365)
  --ca-days N           validity of a new CA (default 3650)
  --kubeconf-server URL also render DIR/kubeconf (server: URL) and DIR/admission_config.yaml
                        from manifests/control-plane/, with file paths pointing at --kubeconf-dir
  --kubeconf-dir DIR    where the apiserver will read the files (default: DIR, made absolute;
                        on a kubeadm node scripts/install-control-plane.sh uses $TEMPLATE_ADMISSION_DIR)
  -h, --help            this text
EOF
}

die() { echo "gen-certs: $*" >&2; exit 1; }
usage_error() { echo "gen-certs: $*" >&2; echo "Run with --help for usage." >&2; exit 2; }
say() { echo "gen-certs: $*" >&2; }

need_arg() { [[ $# -ge 2 && -n "$2" ]] || usage_error "$1 needs a value"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) need_arg "$@"; OUT=$2; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --node-ip) need_arg "$@"; NODE_IP=$2; shift 2 ;;
    --node-ip=*) NODE_IP=${1#*=}; shift ;;
    --san) need_arg "$@"; EXTRA_SANS+=("$2"); shift 2 ;;
    --san=*) EXTRA_SANS+=("${1#*=}"); shift ;;
    --force) FORCE=1; shift ;;
    --key-type) need_arg "$@"; KEY_TYPE=$2; shift 2 ;;
    --key-type=*) KEY_TYPE=${1#*=}; shift ;;
    --days) need_arg "$@"; DAYS=$2; shift 2 ;;
    --days=*) DAYS=${1#*=}; shift ;;
    --ca-days) need_arg "$@"; CA_DAYS=$2; shift 2 ;;
    --ca-days=*) CA_DAYS=${1#*=}; shift ;;
    --kubeconf-server) need_arg "$@"; KUBECONF_SERVER=$2; shift 2 ;;
    --kubeconf-server=*) KUBECONF_SERVER=${1#*=}; shift ;;
    --kubeconf-dir) need_arg "$@"; KUBECONF_DIR=$2; shift 2 ;;
    --kubeconf-dir=*) KUBECONF_DIR=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
done

command -v openssl >/dev/null 2>&1 || die "openssl is required"

case "$KEY_TYPE" in ec | rsa) ;; *) usage_error "--key-type must be ec or rsa, not '$KEY_TYPE'" ;; esac
[[ "$DAYS" =~ ^[1-9][0-9]{0,4}$ ]] || usage_error "--days must be a positive integer"
[[ "$CA_DAYS" =~ ^[1-9][0-9]{0,4}$ ]] || usage_error "--ca-days must be a positive integer"
(( DAYS > RENEW_BEFORE_DAYS )) || usage_error "--days must be more than $RENEW_BEFORE_DAYS (certificates that expire within $RENEW_BEFORE_DAYS days are re-issued)"
(( CA_DAYS > DAYS )) || usage_error "--ca-days must be more than --days"
# Paths go into YAML as plain scalars: keep them to characters that need no quoting.
SAFE_PATH='^[A-Za-z0-9._/+@=-]+$'
[[ "$OUT" =~ $SAFE_PATH ]] || usage_error "--out: use only letters, digits and ._/+@=- in the path"
if [[ -n "$KUBECONF_DIR" && -z "$KUBECONF_SERVER" ]]; then
  usage_error "--kubeconf-dir only makes sense with --kubeconf-server"
fi

is_ipv4() {
  local IFS=. o
  local -a parts
  [[ "$1" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
  read -r -a parts <<<"$1"
  for o in "${parts[@]}"; do (( 10#$o <= 255 )) || return 1; done
}
is_ipv6() { [[ "$1" == *:* && "$1" =~ ^[0-9A-Fa-f:.]+$ && ${#1} -le 45 ]]; }
is_dns() { [[ "$1" =~ ^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$ && ${#1} -le 253 ]]; }

# --- The SAN list: defaults, node IP, extras (validated, lower-cased, de-duplicated) -------------
SANS=()
add_san() {
  local san=$1 kind value s
  kind=${san%%:*}
  value=${san#*:}
  [[ "$san" == *:* && -n "$value" ]] || usage_error "SAN '$san' must look like IP:10.0.0.10 or DNS:webhook.example"
  case "$kind" in
    IP | ip)
      if is_ipv4 "$value" || is_ipv6 "$value"; then san="IP:$value"; else usage_error "SAN '$san': '$value' is not an IP address"; fi ;;
    DNS | dns)
      value=$(printf '%s' "$value" | tr '[:upper:]' '[:lower:]')
      is_dns "$value" || usage_error "SAN '$san': '$value' is not a DNS name"
      san="DNS:$value" ;;
    *) usage_error "SAN '$san' must start with IP: or DNS:" ;;
  esac
  for s in "${SANS[@]+"${SANS[@]}"}"; do [[ "$s" == "$san" ]] && return 0; done
  SANS+=("$san")
}

for san in IP:127.0.0.1 DNS:localhost "DNS:$SERVICE" "DNS:$SERVICE.$NAMESPACE" \
  "DNS:$SERVICE.$NAMESPACE.svc" "DNS:$SERVICE.$NAMESPACE.svc.cluster.local"; do
  add_san "$san"
done

case "$NODE_IP" in
  none | "") ;;
  auto)
    if [[ -r "$MANIFEST" ]]; then
      detected=$(sed -n 's/^ *- --advertise-address=\([0-9A-Fa-f.:]*\) *$/\1/p' "$MANIFEST" | head -n 1)
      if [[ -n "$detected" ]]; then
        say "node IP $detected (the --advertise-address in $MANIFEST)"
        add_san "IP:$detected"
      else
        say "note: no --advertise-address in $MANIFEST; pass --node-ip if the apiserver dials the node IP"
      fi
    elif [[ -e "$MANIFEST" ]]; then
      say "warning: cannot read $MANIFEST (run as root, or pass --node-ip IP): the node IP is not a SAN"
    fi ;;
  *) add_san "IP:$NODE_IP" ;;
esac
for san in "${EXTRA_SANS[@]+"${EXTRA_SANS[@]}"}"; do
  [[ -n "$san" ]] && add_san "$san"
done

if [[ -n "$KUBECONF_SERVER" ]]; then
  [[ "$KUBECONF_SERVER" =~ ^https://[^[:space:]\"\'#]+$ ]] || usage_error "--kubeconf-server must be an https:// URL without spaces, quotes or '#'"
  [[ -f "$TEMPLATE_DIR/kubeconf" && -f "$TEMPLATE_DIR/admission_config.yaml" ]] ||
    die "templates not found in $TEMPLATE_DIR (run the script from the imagegate repository)"
fi

# --- Work area on the same filesystem as OUT, so files land with an atomic rename ---------------
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
[[ "$OUT" =~ $SAFE_PATH ]] || usage_error "--out resolves to '$OUT': use only letters, digits and ._/+@=- in the path"
if [[ -n "$KUBECONF_SERVER" && -z "$KUBECONF_DIR" ]]; then KUBECONF_DIR=$OUT; fi
if [[ -n "$KUBECONF_DIR" ]]; then
  [[ "$KUBECONF_DIR" == /* && "$KUBECONF_DIR" =~ $SAFE_PATH ]] || usage_error "--kubeconf-dir must be an absolute path of letters, digits and ._/+@=-"
  KUBECONF_DIR=${KUBECONF_DIR%/}
fi
WORK=$(mktemp -d "$OUT/.gen-certs.XXXXXX")
cleanup() { rm -rf -- "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

CHANGED=()
# install_file SRC NAME MODE: move SRC to OUT/NAME unless OUT/NAME already has the same bytes.
install_file() {
  local src=$1 name=$2 mode=$3
  if [[ -f "$OUT/$name" ]] && cmp -s "$src" "$OUT/$name"; then
    rm -f -- "$src"
    chmod "$mode" "$OUT/$name"
    return 0
  fi
  chmod "$mode" "$src"
  mv -f -- "$src" "$OUT/$name"
  CHANGED+=("$name")
}

# --- Checks ---------------------------------------------------------------------------------------
WHY=""
key_matches() { # CERT KEY
  local a b
  a=$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null) || return 1
  b=$(openssl pkey -in "$2" -pubout 2>/dev/null) || return 1
  [[ -n "$a" && "$a" == "$b" ]]
}
not_expiring() { openssl x509 -in "$1" -noout -checkend $(( RENEW_BEFORE_DAYS * 86400 )) >/dev/null 2>&1; }
verifies() { # CERT PURPOSE
  local out
  out=$(openssl verify -CAfile "$OUT/ca.crt" -purpose "$2" "$1" 2>&1) || return 1
  [[ "$out" == *": OK" ]]
}
has_san() { # CERT SAN
  local value=${2#*:} out
  case "$2" in
    IP:*) out=$(openssl x509 -in "$1" -noout -checkip "$value" 2>/dev/null) || return 1 ;;
    DNS:*) out=$(openssl x509 -in "$1" -noout -checkhost "$value" 2>/dev/null) || return 1 ;;
  esac
  [[ "$out" == *" does match certificate"* ]]
}

# san_list CERT: one SAN a line, as openssl prints them (IP Address:x becomes IP:x).
san_list() {
  openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | sed -n '2,$p' | tr ',' '\n' |
    sed -e 's/^ *//' -e 's/ *$//' -e 's/^IP Address:/IP:/' | grep -v '^$' || true
}

ca_ok() {
  local crt=$OUT/ca.crt key=$OUT/ca.key
  [[ -s "$crt" ]] || { WHY="missing"; return 1; }
  openssl x509 -in "$crt" -noout >/dev/null 2>&1 || { WHY="not a PEM certificate"; return 1; }
  openssl x509 -in "$crt" -noout -ext basicConstraints 2>/dev/null | grep -q 'CA:TRUE' || { WHY="not a CA certificate"; return 1; }
  [[ "$(openssl verify -CAfile "$crt" "$crt" 2>&1)" == *": OK" ]] || { WHY="not a valid self-signed CA"; return 1; }
  not_expiring "$crt" || { WHY="expires within $RENEW_BEFORE_DAYS days"; return 1; }
  if [[ -e "$key" ]]; then key_matches "$crt" "$key" || { WHY="ca.key does not match ca.crt"; return 1; }; fi
  return 0
}
server_ok() {
  local crt=$OUT/server.crt key=$OUT/server.key san
  [[ -s "$crt" && -s "$key" ]] || { WHY="missing"; return 1; }
  key_matches "$crt" "$key" || { WHY="server.key does not match server.crt"; return 1; }
  verifies "$crt" sslserver || { WHY="not a serverAuth certificate signed by ca.crt"; return 1; }
  not_expiring "$crt" || { WHY="expires within $RENEW_BEFORE_DAYS days"; return 1; }
  for san in "${SANS[@]}"; do has_san "$crt" "$san" || { WHY="no SAN $san"; return 1; }; done
  return 0
}
client_ok() {
  local crt=$OUT/apiserver-client.crt key=$OUT/apiserver-client.key subject
  [[ -s "$crt" && -s "$key" ]] || { WHY="missing"; return 1; }
  key_matches "$crt" "$key" || { WHY="apiserver-client.key does not match apiserver-client.crt"; return 1; }
  verifies "$crt" sslclient || { WHY="not a clientAuth certificate signed by ca.crt"; return 1; }
  not_expiring "$crt" || { WHY="expires within $RENEW_BEFORE_DAYS days"; return 1; }
  subject=$(openssl x509 -in "$crt" -noout -subject -nameopt RFC2253 2>/dev/null)
  [[ "$subject" == "subject=CN=$CLIENT_CN" ]] || { WHY="subject is not CN=$CLIENT_CN"; return 1; }
  return 0
}

# --- Issuing --------------------------------------------------------------------------------------
new_key() {
  case "$KEY_TYPE" in
    ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null ;;
    rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null ;;
  esac
}
key_usage() { # digitalSignature for ECDSA; RSA key exchange also needs keyEncipherment
  if [[ "$KEY_TYPE" == rsa ]]; then
    echo "critical, digitalSignature, keyEncipherment"
  else
    echo "critical, digitalSignature"
  fi
}
serial() { echo "0x$(openssl rand -hex 16)"; }

issue_ca() {
  new_key "$WORK/ca.key"
  cat >"$WORK/ca.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = imagegate-ca
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
  openssl req -x509 -new -key "$WORK/ca.key" -config "$WORK/ca.cnf" -extensions v3_ca \
    -days "$CA_DAYS" -sha256 -set_serial "$(serial)" -out "$WORK/ca.crt" 2>/dev/null ||
    die "openssl could not create the CA"
}

# issue_leaf NAME CN EKU [SAN...]: NAME.key + NAME.crt signed by OUT/ca.crt + OUT/ca.key
issue_leaf() {
  local name=$1 cn=$2 eku=$3 ip=0 dns=0 san
  shift 3
  new_key "$WORK/$name.key"
  {
    printf '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = %s\n[ext]\n' "$cn"
    printf 'basicConstraints = critical, CA:FALSE\n'
    printf 'keyUsage = %s\n' "$(key_usage)"
    printf 'extendedKeyUsage = %s\n' "$eku"
    printf 'subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n'
    if [[ $# -gt 0 ]]; then
      printf 'subjectAltName = @alt\n[alt]\n'
      for san in "$@"; do
        case "$san" in
          IP:*) ip=$((ip + 1)); printf 'IP.%d = %s\n' "$ip" "${san#IP:}" ;;
          DNS:*) dns=$((dns + 1)); printf 'DNS.%d = %s\n' "$dns" "${san#DNS:}" ;;
        esac
      done
    fi
  } >"$WORK/$name.cnf"
  openssl req -new -key "$WORK/$name.key" -config "$WORK/$name.cnf" -out "$WORK/$name.csr" 2>/dev/null ||
    die "openssl could not create the $name request"
  openssl x509 -req -in "$WORK/$name.csr" -CA "$OUT/ca.crt" -CAkey "$OUT/ca.key" -set_serial "$(serial)" \
    -days "$DAYS" -sha256 -extfile "$WORK/$name.cnf" -extensions ext -out "$WORK/$name.crt" 2>/dev/null ||
    die "openssl could not sign the $name certificate"
}

if [[ $FORCE -eq 1 ]]; then
  say "--force: issuing a new CA and new certificates"
  issue_ca
  install_file "$WORK/ca.key" ca.key 600
  install_file "$WORK/ca.crt" ca.crt 644
elif ! ca_ok; then
  if [[ -e "$OUT/ca.crt" ]]; then
    say "warning: ca.crt: $WHY; creating a new CA (kube-apiserver's kubeconf and the imagegate-tls Secret must then be updated)"
  fi
  issue_ca
  install_file "$WORK/ca.key" ca.key 600
  install_file "$WORK/ca.crt" ca.crt 644
fi

need_ca_key() {
  [[ -s "$OUT/ca.key" ]] || die "ca.key is missing from $OUT, so $1 cannot be issued; put ca.key back, or use --force to start over with a new CA"
}

if [[ $FORCE -eq 1 ]] || ! server_ok; then
  [[ $FORCE -eq 1 || ! -e "$OUT/server.crt" ]] || say "server.crt: $WHY; issuing a new one"
  need_ca_key server.crt
  old_sans=""
  if [[ -s "$OUT/server.crt" ]]; then
    old_sans=$(san_list "$OUT/server.crt")
  fi
  issue_leaf server "$SERVICE" serverAuth "${SANS[@]}"
  if [[ -n "$old_sans" ]]; then
    # SANs are exactly the requested ones; say which names the old certificate had and this one lacks.
    new_sans=$(san_list "$WORK/server.crt")
    dropped=()
    while IFS= read -r s; do
      [[ -n "$s" ]] && ! grep -qxF -- "$s" <<<"$new_sans" && dropped+=("$s")
    done <<<"$old_sans"
    if [[ ${#dropped[@]} -gt 0 ]]; then
      say "note: the new server.crt no longer has: ${dropped[*]} (pass them with --san to keep them)"
    fi
  fi
  install_file "$WORK/server.key" server.key 600
  install_file "$WORK/server.crt" server.crt 644
fi

if [[ $FORCE -eq 1 ]] || ! client_ok; then
  [[ $FORCE -eq 1 || ! -e "$OUT/apiserver-client.crt" ]] || say "apiserver-client.crt: $WHY; issuing a new one"
  need_ca_key apiserver-client.crt
  issue_leaf apiserver-client "$CLIENT_CN" clientAuth
  install_file "$WORK/apiserver-client.key" apiserver-client.key 600
  install_file "$WORK/apiserver-client.crt" apiserver-client.crt 644
fi

# --- The Secret the Deployment mounts at /etc/imagegate/tls (tls.crt, tls.key, ca.crt = client CA) -
b64() { base64 <"$1" | tr -d '\n'; }
cat >"$WORK/secret.yaml" <<EOF
# Generated by scripts/gen-certs.sh from server.crt, server.key and ca.crt. Holds a private key:
# apply it (kubectl apply -f), do not commit it.
apiVersion: v1
kind: Secret
metadata:
  name: $SECRET
  namespace: $NAMESPACE
  labels:
    app.kubernetes.io/name: imagegate
type: kubernetes.io/tls
data:
  tls.crt: $(b64 "$OUT/server.crt")
  tls.key: $(b64 "$OUT/server.key")
  ca.crt: $(b64 "$OUT/ca.crt")
EOF
install_file "$WORK/secret.yaml" imagegate-tls-secret.yaml 600

# --- Optionally, the control-plane files, from the shipped templates ------------------------------
if [[ -n "$KUBECONF_SERVER" ]]; then
  render_admission_template "$KUBECONF_SERVER" "$KUBECONF_DIR" "$TEMPLATE_DIR/kubeconf" "$WORK/kubeconf"
  render_admission_template "$KUBECONF_SERVER" "$KUBECONF_DIR" "$TEMPLATE_DIR/admission_config.yaml" "$WORK/admission_config.yaml"
  install_file "$WORK/kubeconf" kubeconf 644
  install_file "$WORK/admission_config.yaml" admission_config.yaml 644
  server_host=${KUBECONF_SERVER#https://}
  server_host=${server_host%%/*}
  if [[ "$server_host" == \[* ]]; then server_host=${server_host#[}; server_host=${server_host%%]*}; else server_host=${server_host%:*}; fi
  if is_ipv4 "$server_host" || is_ipv6 "$server_host"; then host_san="IP:$server_host"; else host_san="DNS:$server_host"; fi
  has_san "$OUT/server.crt" "$host_san" ||
    say "warning: $server_host (from --kubeconf-server) is not a SAN of server.crt: add --san $host_san"
fi

if [[ ${#CHANGED[@]} -eq 0 ]]; then
  say "$OUT: everything is up to date; nothing written"
else
  say "$OUT: wrote ${CHANGED[*]}"
fi
say "serving certificate SANs: ${SANS[*]}"
