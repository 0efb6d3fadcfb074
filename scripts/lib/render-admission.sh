# shellcheck shell=bash
# Sourced by scripts/gen-certs.sh and scripts/install-control-plane.sh: both write the
# apiserver's kubeconf and admission_config.yaml from manifests/control-plane/.
#
# render_admission_template SERVER DIR TEMPLATE OUT: OUT is TEMPLATE with the `server:` value
# replaced by SERVER and every path under /etc/kubernetes/admission/ (where the templates put the
# files) moved to DIR. Values go through ENVIRON, never through a regex or sed replacement, so a
# URL or path with special characters is copied as it is.
TEMPLATE_ADMISSION_DIR=/etc/kubernetes/admission

render_admission_template() {
  IG_SERVER="$1" IG_DIR="$2" IG_FROM="$TEMPLATE_ADMISSION_DIR/" awk '
    BEGIN { server = ENVIRON["IG_SERVER"]; dir = ENVIRON["IG_DIR"]; from = ENVIRON["IG_FROM"] }
    match($0, /^ *server: /) { print substr($0, 1, RLENGTH) server; next }
    match($0, /^ *(certificate-authority|client-certificate|client-key|kubeConfigFile): /) {
      key = substr($0, 1, RLENGTH); value = substr($0, RLENGTH + 1)
      if (index(value, from) == 1) value = dir "/" substr(value, length(from) + 1)
      print key value; next
    }
    { print }
  ' "$3" >"$4"
}
