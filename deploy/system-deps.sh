#!/usr/bin/env bash
# Installs the Debian packages named as arguments (coturn, chromium, firefox-esr, redis-server;
# nginx for the benchmarks; iproute2 for the network lab: ip netns, veth, tc; npm for the web
# client's linter; libegl1, libegl-mesa0 and libgl1-mesa-dri for headless OpenGL over EGL in
# examples/orbit) when they are missing. As root it uses apt-get; otherwise it names the packages
# and stops, since nothing can work without them.
set -euo pipefail
# A file each package installs (a glob for libraries, which live under the multiarch directory).
declare -A binary_of=([coturn]=/usr/bin/turnserver [chromium]=/usr/bin/chromium [firefox-esr]=/usr/bin/firefox-esr
  [nginx]=/usr/sbin/nginx [iproute2]=/sbin/tc [redis-server]=/usr/bin/redis-server [npm]=/usr/bin/npm
  [libegl1]='/usr/lib/*/libEGL.so.1' [libegl-mesa0]='/usr/lib/*/libEGL_mesa.so.0'
  [libgl1-mesa-dri]='/usr/lib/*/dri/swrast_dri.so')
# Packages whose Debian install starts a system service; we run our own, bound to loopback.
declare -A service_of=([coturn]=coturn [nginx]=nginx [redis-server]=redis-server)
missing=()
for package in "$@"; do
  # shellcheck disable=SC2086  # the unquoted path is expanded as a glob on purpose
  compgen -G ${binary_of[$package]} >/dev/null || missing+=("$package")
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
for package in "${missing[@]}"; do
  service=${service_of[$package]:-}
  [[ -n $service ]] || continue
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$service" >/dev/null 2>&1 || true; fi
  if command -v service >/dev/null 2>&1; then service "$service" stop >/dev/null 2>&1 || true; fi
done
