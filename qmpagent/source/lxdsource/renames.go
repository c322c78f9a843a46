package lxdsource

import (
	"context"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// renamed moves what is known of an instance to its new name.
func (s *Source) renamed(old, cur Instance) {
	orig := old
	if a, ok := s.aliases[old]; ok {
		orig = a
		delete(s.aliases, old)
	}
	if orig != cur {
		s.aliases[cur] = orig
	} else {
		delete(s.aliases, cur)
	}
	if st, ok := s.states[old]; ok {
		s.states[cur] = st
		delete(s.states, old)
	}
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
	if orig, ok := s.aliases[inst]; ok {
		names = []Instance{orig, inst}
	}
	for _, want := range names {
		for _, vm := range vms {
			if vm.DeletionTimestamp.IsZero() && vm.Spec.LXD != nil && instanceOf(&vm) == want {
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
	for cur, orig := range s.aliases {
		if orig == spec {
			return cur
		}
	}
	return spec
}
