#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine that has only Node and npm: installs what the
# tests need (Debian packages when missing, then the npm packages), then type-checks, lints and tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real parts, not mocks: a real MQTT broker, real pseudo-terminals, openssl for test certificates.
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# The service unit is checked with systemd-analyze and READY/WATCHDOG go out through systemd-notify.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# The binaries are built with the runtime stripped, by binutils' strip for each CPU.
command -v x86_64-linux-gnu-strip >/dev/null 2>&1 || need+=(binutils)
command -v aarch64-linux-gnu-strip >/dev/null 2>&1 || need+=(binutils-aarch64-linux-gnu)
# The arm64 binary is proven under qemu-user.
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
[ -d /usr/aarch64-linux-gnu/lib ] || need+=(libc6-arm64-cross libstdc++6-arm64-cross)
# status --watch is checked in a real terminal.
command -v tmux >/dev/null 2>&1 || need+=(tmux)
# The Debian package is checked with lintian.
command -v lintian >/dev/null 2>&1 || need+=(lintian)
# The status page is checked in a real headless browser (playwright-core drives Debian's Chromium).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"

npm ci --no-audit --no-fund
# The single binaries are built and tested too (about 30 s): the product is what ships.
EDGE_AGENT_BINARY_TEST=1 npm test
