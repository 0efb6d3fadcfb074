#!/usr/bin/env bash
# Installs the Debian packages the test suites use as real peers (and nothing else):
#   docker-registry (CNCF distribution 2.8), skopeo, umoci (push images), notary (client, server,
#   signer), apache2-utils (htpasswd -B), etcd-server (for kube-apiserver), openssl (test PKI),
#   golang-github-containers-image-dev (real cosign-made signature vectors).
# Idempotent: only missing packages are installed; `apt-get update` runs only when needed.
set -euo pipefail

packages=(docker-registry skopeo umoci notary apache2-utils etcd-server openssl golang-github-containers-image-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test dependencies: all Debian packages present"
  exit 0
fi
echo "test dependencies: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
