#!/bin/sh
# Builds an offline LXD container image from Debian's busybox-static:
# a unified tarball (metadata.yaml + rootfs/) for `lxc image import`.
# Usage: hack/lxd/busybox-image.sh OUT.tar.gz
# Needs: busybox-static (apt-get install -y --no-install-recommends busybox-static).
set -eu
out=${1:?usage: $0 OUT.tar.gz}
bb=$(command -v busybox || true)
for c in /bin/busybox /usr/bin/busybox; do [ -x "$c" ] && bb=$c; done
if [ -z "$bb" ] || ! "$bb" --list >/dev/null 2>&1; then
	echo "busybox not found: apt-get install -y --no-install-recommends busybox-static" >&2
	exit 1
fi
if ldd "$bb" >/dev/null 2>&1; then
	echo "$bb is dynamically linked: install busybox-static" >&2
	exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/bin" "$root/sbin" "$root/etc" "$root/dev" "$root/proc" "$root/sys" \
	"$root/tmp" "$root/run" "$root/root" "$root/var/log"
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list); do
	[ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
rm -f "$root/sbin/init"
# init: mount what a shell needs, then wait; SIGTERM and SIGPWR (what LXD
# sends to stop a container) end it, so `lxc stop` is quick.
cat >"$root/sbin/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
trap 'exit 0' TERM PWR INT
while :; do sleep 1 & wait $!; done
INIT
chmod 0755 "$root/sbin/init"
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
cat >"$work/metadata.yaml" <<META
architecture: $(uname -m)
creation_date: $(date +%s)
properties:
  description: busybox (offline test image)
  os: busybox
  release: static
META
tar -C "$work" -czf "$out" metadata.yaml rootfs
