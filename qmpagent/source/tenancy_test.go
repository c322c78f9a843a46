package source

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestTenancy(t *testing.T) {
	ns, shared := Tenancy{}, Tenancy{Shared: true}
	for _, tc := range []struct {
		name    string
		check   func() error
		refused bool
		says    []string // words the refusal must hold
	}{
		{"LXD: the project named like the namespace", func() error { return ns.LXDProject("team-a", "team-a") }, false, nil},
		{"LXD: the default project from the default namespace", func() error { return ns.LXDProject("default", "default") }, false, nil},
		{"LXD: the default project from another namespace", func() error { return ns.LXDProject("team-a", "default") }, true,
			[]string{`namespace "team-a"`, `LXD project "team-a"`, `names project "default"`, "--tenancy=namespace"}},
		{"LXD: another tenant's project", func() error { return ns.LXDProject("intruder", "victim") }, true, []string{`project "victim"`}},
		{"LXD: shared tenancy grants every project", func() error { return shared.LXDProject("intruder", "victim") }, false, nil},
		{"libvirt: a domain of the namespace", func() error { return ns.LibvirtDomain("team-a", "team-a.web-1") }, false, nil},
		{"libvirt: the namespace's name alone is no domain of it", func() error { return ns.LibvirtDomain("team-a", "team-a") }, true, nil},
		{"libvirt: a namespace is not the prefix of a longer one's domains", func() error { return ns.LibvirtDomain("team", "team-a.web-1") }, true,
			[]string{`namespace "team"`, `"team.*"`, `names "team-a.web-1"`}},
		{"libvirt: a dash does not grant", func() error { return ns.LibvirtDomain("team", "team-web") }, true, nil},
		{"libvirt: shared tenancy grants every domain", func() error { return shared.LibvirtDomain("intruder", "victim.web") }, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check()
			if got := err != nil; got != tc.refused {
				t.Fatalf("refused = %v (%v), want %v", got, err, tc.refused)
			}
			if err != nil && (!errors.Is(err, ErrNotGranted) || !Refused(err)) {
				t.Errorf("%v is not ErrNotGranted", err)
			}
			for _, w := range tc.says {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
		})
	}
}

func TestSocketFolder(t *testing.T) {
	for _, tc := range []struct {
		t    Tenancy
		ns   string
		want string
	}{
		{Tenancy{}, "victim", "victim"},
		{Tenancy{}, "default", "default"},
		{Tenancy{Shared: true}, "victim", ""},
	} {
		if got := tc.t.SocketFolder(tc.ns); got != tc.want {
			t.Errorf("%v.SocketFolder(%q) = %q, want %q", tc.t, tc.ns, got, tc.want)
		}
	}
}

func TestParseTenancy(t *testing.T) {
	for _, tc := range []struct {
		in     string
		shared bool
		bad    bool
	}{
		{"namespace", false, false},
		{"", false, false},
		{"shared", true, false},
		{"Shared", false, true},
		{"none", false, true},
	} {
		got, err := ParseTenancy(tc.in)
		if (err != nil) != tc.bad || got.Shared != tc.shared {
			t.Errorf("ParseTenancy(%q) = %v, %v", tc.in, got, err)
		}
		if err == nil && tc.in != "" && got.String() != tc.in {
			t.Errorf("ParseTenancy(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestCheckUUID(t *testing.T) {
	const a, b = "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e20", "11111111-2222-3333-4444-555555555555"
	for _, tc := range []struct {
		name, spec, reported string
		refused              bool
	}{
		{"no spec.uuid: nothing to compare", "", b, false},
		{"equal", a, a, false},
		{"equal in another case", strings.ToUpper(a), a, false},
		{"another VM", a, b, true},
		{"QEMU started without -uuid", a, nilUUID, true},
		{"no UUID reported", a, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckUUID(tc.spec, tc.reported, "QEMU")
			if got := err != nil; got != tc.refused {
				t.Fatalf("refused = %v (%v), want %v", got, err, tc.refused)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, ErrUUIDMismatch) || !Refused(err) {
				t.Errorf("%v is not ErrUUIDMismatch", err)
			}
			if !strings.Contains(err.Error(), tc.spec) || (tc.reported != "" && tc.reported != nilUUID && !strings.Contains(err.Error(), tc.reported)) {
				t.Errorf("%q does not name both UUIDs", err)
			}
		})
	}
}

func TestClaims(t *testing.T) {
	var c Claims
	first, second := types.NamespacedName{Namespace: "a", Name: "first"}, types.NamespacedName{Namespace: "a", Name: "second"}
	steps := []struct {
		name   string
		do     func() error
		inUse  bool
		holder types.NamespacedName // of /s/a.qmp afterwards, when set
	}{
		{"the first claim wins", func() error { return c.Claim("/s/a.qmp", first) }, false, first},
		{"claiming again is not an error", func() error { return c.Claim("/s/a.qmp", first) }, false, first},
		{"a second VM is refused, told the holder", func() error { return c.Claim("/s/a.qmp", second) }, true, first},
		{"the holder naming another object lets the first go", func() error { return c.Claim("/s/b.qmp", first) }, false, types.NamespacedName{}},
		{"so the second VM gets it", func() error { return c.Claim("/s/a.qmp", second) }, false, second},
		{"a holder refused another object keeps its own", func() error { return c.Claim("/s/b.qmp", second) }, true, second},
		{"released, it is anyone's", func() error { c.Release(second); return c.Claim("/s/a.qmp", first) }, false, first},
		{"retained, the holder keeps it", func() error { c.Retain(map[types.NamespacedName]bool{first: true}); return c.Claim("/s/a.qmp", second) }, true, first},
		{"not retained, it is anyone's", func() error { c.Retain(nil); return c.Claim("/s/a.qmp", second) }, false, second},
	}
	for _, s := range steps {
		err := s.do()
		if got := errors.Is(err, ErrInUse); got != s.inUse {
			t.Fatalf("%s: err = %v", s.name, err)
		}
		if s.inUse && !strings.Contains(err.Error(), "VirtualMachine a/") {
			t.Errorf("%s: %q does not name the holder", s.name, err)
		}
		if h, ok := c.Holder("/s/a.qmp"); s.holder != (types.NamespacedName{}) && (!ok || h != s.holder) {
			t.Errorf("%s: holder of /s/a.qmp = %v, %v; want %v", s.name, h, ok, s.holder)
		}
	}
}
