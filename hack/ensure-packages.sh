#!/usr/bin/env bash
# Installs the Debian packages the suites and the demo run as real peers, when
# any is missing: QEMU (guests), LXD with an offline busybox image (LXD's
# events), libvirtd and auditd (libvirt's audit records; run privately by the
# tests, never as services), and runc, iptables and conntrack (the container
# runtime and Service routing of the real single-node cluster). `make test`,
# `make demo` and `make cluster` call it; a machine that has them all pays
# one dpkg query.
#
#   hack/ensure-packages.sh            everything
#   hack/ensure-packages.sh qemu       only what the demo needs
set -euo pipefail

qemu=(qemu-system-x86 qemu-utils)
all=("${qemu[@]}" lxd lxd-client busybox-static
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients auditd
  runc iptables conntrack iproute2 util-linux)
case "${1:-all}" in
qemu) want=("${qemu[@]}") ;;
all) want=("${all[@]}") ;;
*) echo "usage: $0 [qemu|all]" >&2; exit 2 ;;
esac

need=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing Debian packages: ${need[*]} (install them: apt-get install ${need[*]})" >&2
  exit 1
fi
echo ">> installing Debian packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
