package audit

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

const (
	uuid = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e20"
	head = "type=VIRT_RESOURCE msg=audit(1795274857.474:15): pid=7616 uid=0 auid=4294967295 ses=4294967295 msg='virt=qemu "
	tail = " exe=\"/usr/sbin/libvirtd\" hostname=? addr=? terminal=? res=success'"
	enr  = "\x1dUID=\"root\" AUID=\"unset\""
)

func TestRecordedLog(t *testing.T) {
	f, err := os.Open("testdata/libvirt-enriched.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		r, err := Parse(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if !IsVirt(r.Type) || r.Get("vm") != "tiny vm" || !r.Hex["vm"] || r.Get("uuid") != uuid || r.Enriched["UID"] != "root" || r.Header["pid"] != "7616" {
			t.Errorf("line %d: %+v", n+1, r)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d records", n)
	}
}

func TestParseEveryResourceKind(t *testing.T) {
	for _, tc := range []struct {
		name, fields string
		want         map[string]string
	}{
		{"vcpu", "resrc=vcpu reason=start vm=\"a\" uuid=" + uuid + " old-vcpu=0 new-vcpu=2", map[string]string{"old-vcpu": "0", "new-vcpu": "2"}},
		{"mem", "resrc=mem reason=update vm=\"a\" uuid=" + uuid + " old-mem=65536 new-mem=131072", map[string]string{"new-mem": "131072"}},
		{"disk hex path", "resrc=disk reason=attach vm=\"a\" uuid=" + uuid + " old-disk=\"?\" new-disk=2F746D702F6D79206469736B2E696D67", map[string]string{"new-disk": "/tmp/my disk.img", "old-disk": "?"}},
		{"net", "resrc=net reason=start vm=\"a\" uuid=" + uuid + " old-net=\"?\" new-net=\"52:54:00:12:34:56\"", map[string]string{"new-net": "52:54:00:12:34:56"}},
		{"net host side", "resrc=net reason=open vm=\"a\" uuid=" + uuid + " net=52:54:00:12:34:56 path=\"/dev/net/tun\" rdev=0A:C8", map[string]string{"net": "52:54:00:12:34:56", "rdev": "0A:C8"}},
		{"fs", "resrc=fs reason=start vm=\"a\" uuid=" + uuid + " old-fs=\"?\" new-fs=\"/srv/share\"", map[string]string{"new-fs": "/srv/share"}},
		{"hostdev", "resrc=hostdev reason=attach vm=\"a\" uuid=" + uuid + " bus=\"scsi\" device=\"?\" disk=\"/dev/sdb\"", map[string]string{"disk": "/dev/sdb"}},
		{"dev", "resrc=dev reason=attach vm=\"a\" uuid=" + uuid + " bus=\"pci\" device=\"0000:00:1f.0\"", map[string]string{"device": "0000:00:1f.0"}},
		{"tpm", "resrc=tpm reason=start vm=\"a\" uuid=" + uuid + " device=\"/dev/tpm0\"", map[string]string{"device": "/dev/tpm0"}},
		{"tpm-emulator", "resrc=tpm-emulator reason=start vm=\"a\" uuid=" + uuid + " device=\"/run/swtpm.sock\"", map[string]string{"device": "/run/swtpm.sock"}},
		{"rng", "resrc=rng reason=start vm=\"a\" uuid=" + uuid + " old-rng=\"?\" new-rng=\"/dev/urandom\"", map[string]string{"new-rng": "/dev/urandom"}},
		{"chardev", "resrc=chardev reason=start vm=\"a\" uuid=" + uuid + " old-chardev=\"?\" new-chardev=\"/dev/pts/3\"", map[string]string{"new-chardev": "/dev/pts/3"}},
		{"smartcard", "resrc=smartcard reason=start vm=\"a\" uuid=" + uuid + " old-smartcard=\"?\" new-smartcard=\"nss-smartcard-device\"", map[string]string{"new-smartcard": "nss-smartcard-device"}},
		{"redirdev", "resrc=dev reason=start vm=\"a\" uuid=" + uuid + " bus=usb device=555342207265646972646576", map[string]string{"bus": "usb", "device": "USB redirdev"}},
		{"cgroup path", "resrc=cgroup reason=allow vm=\"a\" uuid=" + uuid + " cgroup=\"/sys/fs/cgroup/x/\" class=path path=\"/dev/null\" rdev=01:03 acl=rw", map[string]string{"class": "path", "acl": "rw"}},
		{"cgroup major", "resrc=cgroup reason=allow vm=\"a\" uuid=" + uuid + " cgroup=\"/sys/fs/cgroup/x/\" class=major category=pty maj=88 acl=rw", map[string]string{"maj": "88", "category": "pty"}},
		{"shmem", "resrc=shmem reason=start vm=\"a\" uuid=" + uuid + " size=4194304 path=/dev/shm/ivshmem0", map[string]string{"size": "4194304", "path": "/dev/shm/ivshmem0"}},
		{"ivshmem-socket", "resrc=ivshmem-socket reason=start vm=\"a\" uuid=" + uuid + " path=/run/ivshmem.sock", map[string]string{"path": "/run/ivshmem.sock"}},
		{"evdev", "resrc=evdev reason=attach vm=\"a\" uuid=" + uuid + " path=/dev/input/event3", map[string]string{"path": "/dev/input/event3"}},
		// Numbers that look like hex stay numbers.
		{"iothread", "resrc=iothread reason=start vm=\"a\" uuid=" + uuid + " old-iothread=0 new-iothread=10", map[string]string{"new-iothread": "10"}},
		{"net open rdev", "resrc=net reason=open vm=\"a\" uuid=" + uuid + " net=52:54:00:12:34:56 path=\"/dev/vhost-net\" rdev=0AEE", map[string]string{"rdev": "0AEE"}},
	} {
		for _, format := range []string{"raw", "enriched"} {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				line := head + tc.fields + tail
				if format == "enriched" {
					line += enr
				}
				r, err := Parse([]byte(line))
				if err != nil {
					t.Fatal(err)
				}
				if r.Type != TypeResource || r.Get("res") != "success" || r.Fields["exe"] != "/usr/sbin/libvirtd" {
					t.Errorf("record %+v", r)
				}
				for k, v := range tc.want {
					if r.Fields[k] != v {
						t.Errorf("%s = %q, want %q", k, r.Fields[k], v)
					}
				}
				if format == "enriched" && r.Enriched["AUID"] != "unset" {
					t.Errorf("enriched = %v", r.Enriched)
				}
				if r.Time != time.Unix(1795274857, 474e6) || r.Serial != 15 {
					t.Errorf("stamp %v:%d", r.Time, r.Serial)
				}
			})
		}
	}
}

func TestParseControlAndMachineID(t *testing.T) {
	r, err := Parse([]byte("node=h1 type=VIRT_CONTROL msg=audit(1.5:2): pid=1 uid=0 auid=1000 ses=3 subj=unconfined msg='virt=lxc op=init reason=? vm=\"c1\" uuid=" + uuid + " vm-pid=10 init-pid=11 pid-ns=4026531836 exe=\"/usr/sbin/libvirtd\" hostname=? addr=? terminal=? res=success'"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Node != "h1" || r.Get("op") != "init" || r.Get("reason") != "" || r.Get("init-pid") != "11" || r.Header["subj"] != "unconfined" || r.Time != time.Unix(1, 5e8) {
		t.Errorf("%+v", r)
	}
	// Numbers that look like hex stay numbers; auditd's numeric type names work.
	r, err = Parse([]byte("type=UNKNOWN[2502] msg=audit(1.000:2): pid=1 uid=0 auid=1 ses=1 msg='virt=kvm vm=\"x\" uuid=" + uuid + " vm-ctx=system_u:system_r:svirt_t:s0:c1,c2 img-ctx=system_u:object_r:svirt_image_t:s0:c1,c2 model=selinux vm-pid=1234 exe=\"/usr/sbin/libvirtd\" res=failed'"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != TypeMachineID || r.Get("vm-pid") != "1234" || r.Get("model") != "selinux" || r.Get("res") != "failed" {
		t.Errorf("%+v", r)
	}
	// A quote inside a double-quoted value within msg='...'.
	r, err = Parse([]byte("type=VIRT_CONTROL msg=audit(1.000:2): pid=1 msg='op=start vm=\"it's\" res=success'"))
	if err != nil || r.Get("vm") != "it's" {
		t.Errorf("%+v %v", r, err)
	}
}

func TestMalformed(t *testing.T) {
	good := head + "resrc=vcpu reason=start vm=\"a\" uuid=" + uuid + " old-vcpu=0 new-vcpu=2" + tail + enr
	for _, tc := range []struct{ name, line, want string }{
		{"empty", "", `does not start with "type="`},
		{"garbage", "hello world", `does not start with "type="`},
		{"no stamp", "type=VIRT_CONTROL pid=1", `no "msg=audit("`},
		{"bad stamp", "type=VIRT_CONTROL msg=audit(x:1): msg='a=b'", "bad seconds"},
		{"no msg", "type=VIRT_CONTROL msg=audit(1.0:1): pid=1", "no msg='...' field"},
		{"cut in the middle", good[:len(head)+30], "truncated line"},
		{"cut in a quoted value", good[:len(head)+strings.Index(good[len(head):], "uuid")-2], "unterminated"},
		{"cut before the closing quote", good[:strings.Index(good, "'\x1d")], "unterminated ' quote"},
		{"field without value", "type=VIRT_CONTROL msg=audit(1.0:1): msg='op start'", "has no value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.line))
			var se *SyntaxError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(%q) = %v, want a syntax error with %q", tc.line, err, tc.want)
			}
		})
	}
	if _, err := Parse([]byte(strings.Repeat("x", MaxLineBytes+1))); !errors.Is(err, ErrTooLong) {
		t.Errorf("long line: %v", err)
	}
	if _, err := Parse([]byte(good)); err != nil {
		t.Errorf("good line: %v", err)
	}
}

func TestRecordType(t *testing.T) {
	for line, want := range map[string]string{
		"type=SYSCALL msg=audit(1.0:1): arch=c000003e":  "SYSCALL",
		"node=h type=UNKNOWN[2501] msg=audit(1.0:1): x": TypeResource,
		head: TypeResource,
	} {
		if got, err := RecordType([]byte(line)); err != nil || got != want {
			t.Errorf("RecordType(%q) = %q, %v", line, got, err)
		}
	}
	if _, err := RecordType([]byte("garbage")); err == nil {
		t.Error("garbage has a type")
	}
}

func FuzzParse(f *testing.F) {
	sc, _ := os.ReadFile("testdata/libvirt-enriched.log")
	for _, l := range strings.Split(string(sc), "\n") {
		f.Add([]byte(l))
	}
	f.Add([]byte(head + "resrc=disk old-disk=2F6120 new-disk=\"/b\"" + tail))
	f.Add([]byte("node=x type=VIRT_CONTROL msg=audit(1.0:1): msg='a=\"b'"))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := Parse(line)
		if err != nil {
			if r != nil {
				t.Fatal("record with an error")
			}
			return
		}
		if r.Type == "" || r.Fields == nil {
			t.Fatalf("incomplete record %+v", r)
		}
		if _, err := RecordType(line); err != nil {
			t.Fatalf("Parse accepts what RecordType refuses: %v", err)
		}
	})
}

// The kernel's fields before msg='...' are the sender's identity; an
// AppArmor label is written unquoted with its mode, a space inside.
func TestParseKernelHeader(t *testing.T) {
	const msg = " msg='virt=qemu op=start vm=\"a\" exe=\"/usr/sbin/libvirtd\" res=success'"
	for _, tc := range []struct {
		name, header string
		want         map[string]string
	}{
		{"no label", "pid=7616 uid=0 auid=4294967295 ses=4294967295", map[string]string{"pid": "7616", "uid": "0", "subj": ""}},
		{"SELinux", "pid=7616 uid=0 auid=4294967295 ses=4294967295 subj=system_u:system_r:virtd_t:s0-s0:c0.c1023", map[string]string{"pid": "7616", "subj": "system_u:system_r:virtd_t:s0-s0:c0.c1023"}},
		{"AppArmor with its mode", "pid=3077358 uid=0 auid=4294967295 ses=4294967295 subj=docker-default (enforce)", map[string]string{"pid": "3077358", "uid": "0", "subj": "docker-default (enforce)"}},
		{"AppArmor unconfined", "pid=1 uid=0 auid=4294967295 ses=4294967295 subj=unconfined", map[string]string{"subj": "unconfined"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte("type=VIRT_CONTROL msg=audit(1.000:2): " + tc.header + msg + enr))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if r.Header[k] != v {
					t.Errorf("%s = %q, want %q", k, r.Header[k], v)
				}
			}
			if r.Get("op") != "start" || r.Header["exe"] != "" {
				t.Errorf("fields %v, header %v", r.Fields, r.Header)
			}
		})
	}
}
