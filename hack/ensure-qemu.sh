#!/usr/bin/env bash
# Installs QEMU (Debian packages) if it is missing: `make demo` and the
# real-VM tests boot real QEMU guests.
set -euo pipefail
command -v qemu-system-x86_64 >/dev/null && command -v qemu-img >/dev/null && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "QEMU is missing: install qemu-system-x86 and qemu-utils (Debian/Ubuntu: apt-get install qemu-system-x86 qemu-utils)" >&2
  exit 1
fi
echo ">> installing QEMU: apt-get install qemu-system-x86 qemu-utils" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends qemu-system-x86 qemu-utils >/dev/null
