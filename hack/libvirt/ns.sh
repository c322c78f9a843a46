#!/usr/bin/env bash
# Runs a private libvirtd and auditd for tests, without touching the host's
# /etc/libvirt or /var/lib/libvirt. Run it in its own mount namespace:
#
#   unshare -m hack/libvirt/ns.sh DIR
#
# DIR gets: run/libvirt-sock (the socket: qemu:///system?socket=DIR/run/libvirt-sock),
# audit/audit.log (auditd's log), libvirtd.log, auditd.log.
# DIR/libvirtd.pid is libvirtd's pid: kill it and libvirtd starts again,
# its domains running on (once DIR/libvirtd.hold, if made, is removed). The script runs until killed (SIGTERM stops both
# daemons and the domains' QEMUs); the caller should
# then run `auditctl -e 0`, as starting auditd turns kernel auditing on.
# Needs: libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients auditd
# qemu-system-x86 (apt-get install -y --no-install-recommends ...).
set -euo pipefail
dir=${1:?usage: unshare -m $0 DIR}
mkdir -p "$dir"/{etc,lib,cache,log,run,audit,auditconf}
mount --make-rprivate /
mount -t tmpfs tmpfs /run
mount --bind "$dir/etc" /etc/libvirt 2>/dev/null || { mkdir -p /etc/libvirt && mount --bind "$dir/etc" /etc/libvirt; }
for d in lib:/var/lib/libvirt cache:/var/cache/libvirt log:/var/log/libvirt; do
	mkdir -p "${d#*:}"
	mount --bind "$dir/${d%%:*}" "${d#*:}"
done
mkdir -p /run/libvirt && mount --bind "$dir/run" /run/libvirt

# A passwd and group with libvirt-qemu, which the qemu driver looks up.
cp /etc/passwd "$dir/passwd"; cp /etc/group "$dir/group"
grep -q '^libvirt-qemu:' "$dir/passwd" || echo 'libvirt-qemu:x:64055:64055::/var/lib/libvirt:/usr/sbin/nologin' >>"$dir/passwd"
grep -q '^libvirt-qemu:' "$dir/group" || echo 'libvirt-qemu:x:64055:' >>"$dir/group"
grep -q '^kvm:' "$dir/group" || echo 'kvm:x:64056:' >>"$dir/group"
grep -q '^libvirt:' "$dir/group" || echo 'libvirt:x:64057:' >>"$dir/group"
mount --bind "$dir/passwd" /etc/passwd
mount --bind "$dir/group" /etc/group

cat >"$dir/etc/libvirtd.conf" <<CONF
audit_level = 1
audit_logging = 1
log_filters = "2:audit 3:*"
log_outputs = "2:file:$dir/libvirtd.log"
unix_sock_dir = "/run/libvirt"
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_group = "root"
unix_sock_rw_perms = "0770"
CONF
cat >"$dir/etc/qemu.conf" <<CONF
user = "root"
group = "root"
security_driver = "none"
stdio_handler = "file"
namespaces = [ ]
CONF

cat >"$dir/auditconf/auditd.conf" <<CONF
local_events = yes
write_logs = yes
log_file = $dir/audit/audit.log
log_group = root
log_format = ${AUDIT_FORMAT:-ENRICHED}
flush = INCREMENTAL_ASYNC
freq = 1
max_log_file = 8
num_logs = 5
priority_boost = 4
name_format = NONE
max_log_file_action = ROTATE
space_left = 75
space_left_action = SYSLOG
admin_space_left = 50
admin_space_left_action = SUSPEND
disk_full_action = SUSPEND
disk_error_action = SUSPEND
use_libwrap = no
tcp_listen_queue = 5
tcp_max_per_addr = 1
tcp_client_max_idle = 0
transport = TCP
distribute_network = no
q_depth = 2000
overflow_action = SYSLOG
max_restarts = 10
plugin_dir = $dir/auditconf/plugins.d
end_of_event_timeout = 2
CONF
mkdir -p "$dir/auditconf/plugins.d"
chmod 0640 "$dir/auditconf/auditd.conf"

# QEMU outlives libvirtd by design: stop the domains' QEMUs too. The trap
# is set before auditd starts: auditd makes itself a session leader, so a
# TERM that killed this script before the trap would leave it running,
# holding the kernel's one audit daemon slot.
libvirtd= auditd= stopping=0
stop_all() {
	stopping=1
	for pidfile in "$dir"/run/qemu/*.pid; do
		[ -e "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
	done
	if [ -n "$libvirtd" ]; then kill $libvirtd 2>/dev/null; wait $libvirtd 2>/dev/null; fi
	if [ -n "$auditd" ]; then kill $auditd 2>/dev/null; wait $auditd 2>/dev/null; fi
	return 0
}
trap 'stop_all; exit 0' TERM INT
/usr/sbin/auditd -n -c "$dir/auditconf" >"$dir/auditd.log" 2>&1 &
auditd=$!
for _ in $(seq 100); do
	auditctl -s 2>/dev/null | grep -q "enabled 1" && [ -e "$dir/audit/audit.log" ] && break
	sleep 0.1
done
# libvirtd is started again when it exits (a test kills DIR/libvirtd.pid
# to restart it under running domains), up to 20 times.
for _ in $(seq 20); do
	/usr/sbin/libvirtd -f "$dir/etc/libvirtd.conf" >>"$dir/libvirtd.out" 2>&1 &
	libvirtd=$!
	echo $libvirtd >"$dir/libvirtd.pid"
	wait -n $libvirtd $auditd || true
	[ $stopping = 0 ] && kill -0 $auditd 2>/dev/null || break
	# DIR/libvirtd.hold keeps it down, so a test can see the agent disconnected.
	while [ -e "$dir/libvirtd.hold" ] && [ $stopping = 0 ]; do sleep 0.1; done
done
stop_all
