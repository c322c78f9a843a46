package main

import (
	"fmt"
	"strings"
)

// writeWaits says where a write's time went between two snapshots, as
// means: the agent's writes from going in flight to the answer (by kind),
// the apiserver's own handling of the writes (by verb and resource), and
// the controller's reconciles (time queued, time working). Under
// saturation these tell the apiserver's queue from the agent's and the
// controller's.
func writeWaits(a, c snapshot) string {
	mean := func(m0, m1 metrics, name string, keep func(map[string]string) bool) string {
		sum := m1.sum(name+"_sum", keep) - m0.sum(name+"_sum", keep)
		n := m1.sum(name+"_count", keep) - m0.sum(name+"_count", keep)
		if n <= 0 {
			return "-"
		}
		return ms(meanOf(sum, n))
	}
	var parts []string
	for _, kind := range []string{"status", "event"} {
		parts = append(parts, fmt.Sprintf("agent %s write %s", kind,
			mean(a.agent, c.agent, "vmevents_agent_api_write_duration_seconds", func(l map[string]string) bool { return l["kind"] == kind })))
	}
	for _, vr := range [][2]string{{"APPLY", "virtualmachines"}, {"POST", "events"}, {"PATCH", "events"}} {
		parts = append(parts, fmt.Sprintf("apiserver %s %s %s", vr[0], vr[1],
			mean(a.api, c.api, "apiserver_request_duration_seconds", func(l map[string]string) bool {
				return l["verb"] == vr[0] && l["resource"] == vr[1]
			})))
	}
	vmQueue := func(l map[string]string) bool { return l["name"] == "virtualmachine" }
	parts = append(parts,
		"controller reconcile queued "+mean(a.ctrl, c.ctrl, "workqueue_queue_duration_seconds", vmQueue),
		"working "+mean(a.ctrl, c.ctrl, "workqueue_work_duration_seconds", vmQueue))
	return strings.Join(parts, "; ")
}
