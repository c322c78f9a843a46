package lxdsource

import (
	"context"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// alias is what is known of a renamed instance: the name it had when a
// VirtualMachine could have named it, and its LXD UUID (volatile.uuid), by
// which a restarted agent finds it again whatever its name has become.
type alias struct {
	orig Instance
	uuid string
}

// renamed moves what is known of an instance to its new name, and keeps
// the renames on disk.
func (s *Source) renamed(old, cur Instance) {
	orig, uuid := old, s.uuids[old]
	if a, ok := s.aliases[old]; ok {
		orig = a.orig
		if a.uuid != "" {
			uuid = a.uuid
		}
		delete(s.aliases, old)
	}
	if orig != cur {
		s.aliases[cur] = alias{orig: orig, uuid: uuid}
	} else {
		delete(s.aliases, cur)
	}
	delete(s.uuids, old)
	if uuid != "" {
		s.uuids[cur] = uuid
	}
	if st, ok := s.states[old]; ok {
		s.states[cur] = st
		delete(s.states, old)
	}
	s.saveState()
}

// forget drops what is known of a deleted instance.
func (s *Source) forget(inst Instance) {
	delete(s.states, inst)
	delete(s.uuids, inst)
	if _, ok := s.aliases[inst]; ok {
		delete(s.aliases, inst)
		s.saveState()
	}
}

// reconcileAliases brings the renames up to date with the instances LXD has
// (s.uuids, s.states, just read): an instance renamed while the agent was
// not following is found by its UUID under its new name; the rename of an
// instance that is gone (or, without a UUID, whose name is gone) is dropped.
func (s *Source) reconcileAliases() {
	byUUID := make(map[string]Instance, len(s.uuids))
	for inst, u := range s.uuids {
		byUUID[u] = inst
	}
	next := make(map[Instance]alias, len(s.aliases))
	for cur, a := range s.aliases {
		now, ok := byUUID[a.uuid]
		if a.uuid == "" {
			_, ok = s.states[cur]
			now, a.uuid = cur, s.uuids[cur]
		}
		if !ok || now == a.orig {
			continue
		}
		next[now] = a
	}
	if !sameAliases(next, s.aliases) {
		s.aliases = next
		s.saveState()
	}
}

func sameAliases(a, b map[Instance]alias) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// find returns the VirtualMachine of an instance: the one naming the name
// the instance had before renames, else the one naming its current name.
func (s *Source) find(ctx context.Context, inst Instance) (vmv1.VirtualMachine, bool) {
	vms, err := s.pub.VirtualMachines(ctx)
	if err != nil {
		s.cfg.Log.Info("could not list VirtualMachines", "error", err.Error())
		return vmv1.VirtualMachine{}, false
	}
	names := []Instance{inst}
	if a, ok := s.aliases[inst]; ok {
		names = []Instance{a.orig, inst}
	}
	for _, want := range names {
		for _, vm := range vms {
			if vm.DeletionTimestamp.IsZero() && vm.Spec.LXD != nil && instanceOf(&vm) == want && s.refusal(&vm) == nil {
				return vm, true
			}
		}
	}
	return vmv1.VirtualMachine{}, false
}

func instanceOf(vm *vmv1.VirtualMachine) Instance {
	p := vm.Spec.LXD.Project
	if p == "" {
		p = DefaultProject
	}
	return Instance{Project: p, Name: vm.Spec.LXD.Instance}
}

// currentName is the name an instance a VM names goes by now.
func (s *Source) currentName(spec Instance) Instance {
	for cur, a := range s.aliases {
		if a.orig == spec {
			return cur
		}
	}
	return spec
}
