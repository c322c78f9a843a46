package lxdsource

import (
	"time"

	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// refusal says why vm may not follow the instance it names, or nil: its
// namespace is not granted the instance's project (Config.Tenancy),
// spec.uuid is not the instance's UUID (when LXD told it: volatile.uuid,
// the VM's SMBIOS UUID), or another VirtualMachine claimed the instance
// first. A VM refused for what it names holds no instance.
func (s *Source) refusal(vm *vmv1.VirtualMachine) error {
	key := types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}
	inst := instanceOf(vm)
	err := s.cfg.Tenancy.LXDProject(vm.Namespace, inst.Project)
	if u := s.uuids[s.currentName(inst)]; err == nil && u != "" {
		err = source.CheckUUID(vm.Spec.UUID, u, "LXD (volatile.uuid of "+inst.Project+"/"+inst.Name+")")
	}
	if err != nil {
		s.claims.Release(key)
		return err
	}
	return s.claims.Claim("LXD instance "+inst.Project+"/"+inst.Name, key)
}

// refusedFacts records in a VM's facts that it was refused, and why.
func (s *Source) refusedFacts(f *model.Facts, err error) {
	f.Monitor.Source = vmv1.SourceLXD
	f.Monitor.Endpoint = model.Clean(s.cfg.Socket, 512)
	f.SetMonitorState(vmv1.MonitorRefused, time.Now())
	f.Monitor.LastError = model.Clean(err.Error(), 1024)
}
