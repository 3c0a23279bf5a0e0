#!/usr/bin/env bash
# Installs the Debian packages refit builds with, only those missing. Used by `make` and CI.
set -euo pipefail
packages=(cmake g++ make pkg-config liblua5.4-dev libyaml-cpp-dev libfmt-dev nlohmann-json3-dev
          libsimdjson-dev libcli11-dev catch2 jq time libcurl4-openssl-dev libcpp-httplib-dev libssl-dev
          nghttp2-proxy)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "refit: installing missing packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "refit: cannot install packages (not root, no sudo); install them: apt-get install ${missing[*]}" >&2
  exit 1
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
