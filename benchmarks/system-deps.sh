#!/usr/bin/env bash
# Installs the Debian packages the benchmarks need beyond the tests' (nginx, the proxy's reference)
# when they are missing. As root it uses apt-get; otherwise it names the packages and stops.
set -euo pipefail
declare -A binary_of=([nginx]=/usr/sbin/nginx)
missing=()
for package in "$@"; do
  [[ -x "${binary_of[$package]}" ]] || missing+=("$package")
done
((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "Missing Debian packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts nginx as a system service on port 80 on install; the benchmark runs its own on loopback.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
if command -v service >/dev/null 2>&1; then service nginx stop >/dev/null 2>&1 || true; fi
