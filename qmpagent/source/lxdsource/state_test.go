package lxdsource

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/test/framework/publishtest"
)

// Frames recorded from LXD 5.0.2: `lxc pause c1b`, `lxc start c1b` (which
// resumes), `lxc stop`, `lxc rename c1b c1c` (no requestor), `lxc start`.
const (
	pausedC1b  = `{"location":"none","metadata":{"action":"instance-paused","requestor":{"address":"@","protocol":"unix","username":"root"},"source":"/1.0/instances/c1b"},"project":"default","timestamp":"2026-11-29T01:24:01.71096981Z","type":"lifecycle"}`
	resumedC1b = `{"location":"none","metadata":{"action":"instance-resumed","requestor":{"address":"@","protocol":"unix","username":"root"},"source":"/1.0/instances/c1b"},"project":"default","timestamp":"2026-11-29T01:24:01.758275723Z","type":"lifecycle"}`
	renamedC1c = `{"location":"none","metadata":{"action":"instance-renamed","context":{"old_name":"c1b"},"source":"/1.0/instances/c1c"},"project":"default","timestamp":"2026-11-29T01:24:02.672710224Z","type":"lifecycle"}`
	startedC1c = `{"location":"none","metadata":{"action":"instance-started","requestor":{"address":"@","protocol":"unix","username":"root"},"source":"/1.0/instances/c1c"},"project":"default","timestamp":"2026-11-29T01:24:03Z","type":"lifecycle"}`
	uuidC1b    = "d965a54e-dff2-4181-8f2e-d8a7eca64c23"
)

// published is the last Event published regarding name.
func published(t *testing.T, p *publishtest.Recorder, name string) (reason, eventType, note string) {
	t.Helper()
	all := p.Published()
	for i := len(all) - 1; i >= 0; i-- {
		if e := all[i]; e.Regarding.Name == name {
			return e.Occurrence.Reason, e.Occurrence.EventType(), e.Occurrence.Note
		}
	}
	t.Fatalf("nothing published regarding %s", name)
	return
}

func TestPauseAndResume(t *testing.T) {
	p := publishtest.NewRecorder(lxdVM("a", "c1b", ""))
	s := New(p, Config{Socket: "/run/lxd.socket", Log: logr.Discard()})
	s.up = true
	for _, tc := range []struct {
		frame, reason, note string
		state               vmv1.RunState
		lxdStatus           string
	}{
		{pausedC1b, "InstancePaused", "LXD instance-paused: instance c1b (project default), requested by root via unix from @", vmv1.RunStatePaused, "Frozen"},
		{resumedC1b, "InstanceResumed", "LXD instance-resumed: instance c1b (project default), requested by root via unix from @", vmv1.RunStateRunning, "Running"},
	} {
		s.Handle(context.Background(), []byte(tc.frame), received)
		reason, typ, note := published(t, p, "a")
		if reason != tc.reason || typ != "Normal" || note != tc.note {
			t.Errorf("published %s %s %q, want %s Normal %q", reason, typ, note, tc.reason, tc.note)
		}
		if f := p.FactsOf("default", "a"); f.RunState != tc.state || f.RunStateReason != tc.lxdStatus {
			t.Errorf("after %s: run state %s (%s), want %s (%s)", tc.reason, f.RunState, f.RunStateReason, tc.state, tc.lxdStatus)
		}
	}
}

func TestRenamesSurviveARestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state", "lxd-renames.json")
	p := publishtest.NewRecorder(lxdVM("a", "c1b", ""))
	cfg := Config{Socket: "/run/lxd.socket", StateFile: file, Log: logr.Discard()}
	s := New(p, cfg)
	s.up = true
	s.uuids[Instance{DefaultProject, "c1b"}] = uuidC1b
	s.Handle(context.Background(), []byte(renamedC1c), received)
	if reason, typ, note := published(t, p, "a"); reason != "InstanceRenamed" || typ != "Normal" ||
		note != "LXD instance-renamed: instance c1b → c1c (project default); this VirtualMachine names the instance c1b (spec.lxd.instance) and follows it under its new name" {
		t.Errorf("rename: %s %s %q", reason, typ, note)
	}
	fi, err := os.Lstat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}

	// The agent restarts: a new source, the same file.
	s = New(p, cfg)
	s.up = true
	s.loadState()
	s.Handle(context.Background(), []byte(startedC1c), received)
	if reason, typ, note := published(t, p, "a"); reason != "InstanceStarted" || typ != "Normal" ||
		!strings.HasPrefix(note, "LXD instance-started: instance c1c (project default)") || !strings.Contains(note, "follows it under its new name") {
		t.Errorf("after the restart: %s %s %q", reason, typ, note)
	}
	if f := p.FactsOf("default", "a"); f.RunState != vmv1.RunStateRunning || f.Monitor.VMName != "c1c" || f.EventCounts["instance-started"] != 1 {
		t.Errorf("facts after the restart: %+v", f)
	}
	if s.aliases[Instance{DefaultProject, "c1c"}].uuid != uuidC1b {
		t.Errorf("the UUID was not kept: %+v", s.aliases)
	}
}

func TestReconcileAliases(t *testing.T) {
	c := func(n string) Instance { return Instance{DefaultProject, n} }
	const u1, u2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	for _, tc := range []struct {
		name    string
		aliases map[Instance]alias
		lxd     map[Instance]string // what LXD has: name -> UUID ("" none)
		want    map[Instance]alias
	}{
		{"kept", map[Instance]alias{c("b"): {c("a"), u1}}, map[Instance]string{c("b"): u1}, map[Instance]alias{c("b"): {c("a"), u1}}},
		{"renamed again while away", map[Instance]alias{c("b"): {c("a"), u1}}, map[Instance]string{c("z"): u1}, map[Instance]alias{c("z"): {c("a"), u1}}},
		{"renamed back while away", map[Instance]alias{c("b"): {c("a"), u1}}, map[Instance]string{c("a"): u1}, map[Instance]alias{}},
		{"deleted while away", map[Instance]alias{c("b"): {c("a"), u1}}, map[Instance]string{}, map[Instance]alias{}},
		{"deleted, another made under the name", map[Instance]alias{c("b"): {c("a"), u1}}, map[Instance]string{c("b"): u2}, map[Instance]alias{}},
		{"no UUID yet: learnt", map[Instance]alias{c("b"): {c("a"), ""}}, map[Instance]string{c("b"): u2}, map[Instance]alias{c("b"): {c("a"), u2}}},
		{"no UUID, LXD gives none: kept by name", map[Instance]alias{c("b"): {c("a"), ""}}, map[Instance]string{c("b"): ""}, map[Instance]alias{c("b"): {c("a"), ""}}},
		{"no UUID, name gone", map[Instance]alias{c("b"): {c("a"), ""}}, map[Instance]string{}, map[Instance]alias{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(publishtest.NewRecorder(), Config{Log: logr.Discard()})
			s.aliases = tc.aliases
			for inst, u := range tc.lxd {
				s.states[inst] = runState{vmv1.RunStateRunning, "Running"}
				if u != "" {
					s.uuids[inst] = u
				}
			}
			s.reconcileAliases()
			if !sameAliases(s.aliases, tc.want) {
				t.Errorf("aliases %+v, want %+v", s.aliases, tc.want)
			}
		})
	}
}

func TestStateFileIsReadSafely(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	aliases := map[Instance]alias{{"p1", "new"}: {Instance{"p1", "old"}, uuidC1b}}
	if err := writeState(good, aliases); err != nil {
		t.Fatal(err)
	}
	if got, err := readState(good); err != nil || !sameAliases(got, aliases) {
		t.Errorf("round trip: %+v %v", got, err)
	}
	if got, err := readState(filepath.Join(dir, "missing.json")); err != nil || len(got) != 0 {
		t.Errorf("missing file: %+v %v", got, err)
	}

	// A symbolic link is not followed when reading, and is replaced (not
	// written through) when writing.
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	if _, err := readState(link); err == nil {
		t.Error("read through a symbolic link")
	}
	if err := writeState(link, map[Instance]alias{}); err != nil {
		t.Fatal(err)
	}
	if got, err := readState(good); err != nil || !sameAliases(got, aliases) {
		t.Errorf("the link's target was written: %+v %v", got, err)
	}

	for name, content := range map[string]string{
		"too large":       `{"version":1,"renames":[` + strings.Repeat(" ", maxStateBytes) + `]}`,
		"not JSON":        `{`,
		"unknown version": `{"version":2,"renames":[]}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := readState(path); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
	if _, err := readState(dir); err == nil {
		t.Error("a folder read as the state file")
	}

	// Malformed entries are skipped, the rest kept.
	mixed := filepath.Join(dir, "mixed.json")
	if err := os.WriteFile(mixed, []byte(`{"version":1,"renames":[
		{"project":"default","name":"b","original":"a","uuid":"not-a-uuid"},
		{"project":"default","name":"x/y","original":"a"},
		{"project":"default","name":"c","original":"c"},
		{"project":"","name":"d","original":"e"},
		{"project":"default","name":"\u001b","original":"e"},
		{"project":"default","name":"`+strings.Repeat("n", 64)+`","original":"e"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := readState(mixed); err != nil || !sameAliases(got, map[Instance]alias{{DefaultProject, "b"}: {Instance{DefaultProject, "a"}, ""}}) {
		t.Errorf("mixed: %+v %v", got, err)
	}
}
