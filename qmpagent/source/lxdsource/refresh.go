package lxdsource

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// monitorFacts records the stream's state in a VM's facts.
func (s *Source) monitorFacts(f *model.Facts, name string) {
	f.Monitor.Source = vmv1.SourceLXD
	f.Monitor.Endpoint = model.Clean(s.cfg.Socket, 512)
	if name != "" {
		f.Monitor.VMName = model.Clean(name, 256)
	}
	if s.up {
		f.SetMonitorState(vmv1.MonitorConnected, time.Now())
		f.Monitor.LastError = ""
	} else {
		f.SetMonitorState(vmv1.MonitorDisconnected, time.Now())
		f.Monitor.LastError = s.lastError
	}
}

// setDown marks the stream down for every VM.
func (s *Source) setDown(ctx context.Context, err error) {
	if s.up || s.lastError == "" {
		s.cfg.Log.Info("LXD event stream down; retrying", "socket", s.cfg.Socket, "error", err.Error())
	}
	msg := model.Clean(err.Error(), 1024)
	if s.up || msg != s.lastError {
		s.gen++
	}
	s.up, s.lastError = false, msg
	s.remedies.set(nil, "")
	s.refresh(ctx)
}

// told is what a VM was last told: the stream's state (gen) and why it
// was refused ("" when it was not). key lets go of its claim once it is
// gone.
type told struct {
	gen     int
	refusal string
	key     types.NamespacedName
}

// refresh tells the stream's state (and, when up, the instance's run
// state), or why it is refused, to every LXD VirtualMachine not yet told
// it.
func (s *Source) refresh(ctx context.Context) {
	vms, err := s.pub.VirtualMachines(ctx)
	if err != nil {
		return
	}
	present := make(map[types.UID]bool, len(vms))
	looked := map[types.UID]remedyTarget{}
	for i := range vms {
		vm := &vms[i]
		if vm.Spec.LXD == nil || !vm.DeletionTimestamp.IsZero() {
			continue
		}
		present[vm.UID] = true
		key := types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}
		refused := s.refusal(vm)
		why := ""
		if refused != nil {
			why = refused.Error()
		}
		if s.up {
			cur := s.currentName(instanceOf(vm))
			looked[vm.UID] = remedyTarget{spec: instanceOf(vm), current: cur, uuid: s.uuids[cur], refusal: why}
		}
		if t, ok := s.told[vm.UID]; ok && t.gen == s.gen && t.refusal == why {
			continue
		}
		s.told[vm.UID] = told{gen: s.gen, refusal: why, key: key}
		if refused != nil {
			s.pub.UpdateFacts(key, func(f *model.Facts) { s.refusedFacts(f, refused) })
			continue
		}
		cur := s.currentName(instanceOf(vm))
		st, known := s.states[cur]
		reconnected := false
		if s.up {
			reconnected = s.connectedIn[vm.UID] != 0 && s.connectedIn[vm.UID] != s.connections
			s.connectedIn[vm.UID] = s.connections
		}
		up := s.up
		s.pub.UpdateFacts(key, func(f *model.Facts) {
			if reconnected {
				f.Monitor.Reconnects++
			}
			if up && known {
				f.SetRunState(st.state, st.reason, time.Now())
			} else if up && f.RunState == "" {
				// LXD does not know the instance (yet).
				f.SetRunState(vmv1.RunStateUnknown, "NotFound", time.Now())
			}
			s.monitorFacts(f, cur.Name)
		})
	}
	if s.up {
		s.remedies.set(looked, s.member)
	}
	for uid, t := range s.told {
		if !present[uid] {
			s.claims.Release(t.key)
			delete(s.told, uid)
			delete(s.connectedIn, uid)
		}
	}
	s.discover(ctx, vms)
}

// wait sleeps d, still telling new VMs the stream is down; false when ctx ended.
func (s *Source) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(s.cfg.RefreshInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-tick.C:
			s.refresh(ctx)
		}
	}
}
