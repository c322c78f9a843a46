package lxdsource

import (
	"context"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// discover creates a VirtualMachine for every instance LXD has that no
// VirtualMachine of this node names (opt-in: Config.DiscoverNamespace).
func (s *Source) discover(ctx context.Context, vms []vmv1.VirtualMachine) {
	if s.cfg.DiscoverNamespace == "" || !s.up {
		return
	}
	watched := map[Instance]bool{}
	for i := range vms {
		if vms[i].Spec.LXD != nil {
			watched[s.currentName(instanceOf(&vms[i]))] = true
		}
	}
	for inst, st := range s.states {
		if watched[inst] || st.reason == "Deleted" || s.cfg.Tenancy.LXDProject(s.cfg.DiscoverNamespace, inst.Project) != nil {
			continue
		}
		_, err := source.Discover(ctx, s.pub, s.cfg.DiscoverNamespace, source.Found{
			Name: inst.Name, Identity: "lxd:" + inst.Project + "/" + inst.Name,
			Spec: vmv1.VirtualMachineSpec{LXD: &vmv1.LXDSource{Instance: inst.Name, Project: inst.Project}},
		})
		if err != nil {
			s.cfg.Log.Info("not discovered", "instance", inst.Project+"/"+inst.Name, "reason", err.Error())
		}
	}
}
