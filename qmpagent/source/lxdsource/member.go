package lxdsource

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/vmevents/vmevents/qmpagent/model"
)

// In an LXD cluster every member's /1.0/events stream carries the events of
// all members, each with the member's name in its location (LXD sets a
// local event's location to its server name, "none" when not clustered, and
// keeps the location of events forwarded from other members). The agent
// runs on every node and publishes only its own member's events.

// otherMember counts events skipped because they happened on another member.
var otherMember = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "vmevents_agent_lxd_other_member_events_total",
	Help: "LXD events skipped because their location is another cluster member than the agent's.",
})

func init() { crmetrics.Registry.MustRegister(otherMember) }

// serverInfo is what the agent reads of GET /1.0.
type serverInfo struct {
	Environment struct {
		ServerName      string `json:"server_name"`
		ServerClustered bool   `json:"server_clustered"`
	} `json:"environment"`
}

// readMember learns this LXD's cluster member name from GET /1.0: its
// server name when clustered, "" when standalone. On error the name known
// so far is kept.
func (s *Source) readMember(ctx context.Context) {
	var info serverInfo
	if err := s.get(ctx, "/1.0", 1<<20, &info); err != nil {
		s.cfg.Log.Info("could not read LXD's server name; keeping the member name known so far", "member", s.member, "error", err.Error())
		return
	}
	member := ""
	if info.Environment.ServerClustered {
		member = model.Clean(info.Environment.ServerName, maxName)
	}
	if member != s.member {
		s.cfg.Log.Info("LXD cluster member", "member", member, "clustered", info.Environment.ServerClustered)
	}
	s.member = member
}

// ours reports whether an event or instance at location is this member's:
// its member name, or no member at all ("none" or empty, as a standalone
// LXD writes; events from before clustering was enabled too).
func (s *Source) ours(location string) bool { return memberOwns(s.member, location) }

// memberOwns reports whether location is member's (see ours).
func memberOwns(member, location string) bool {
	return location == "" || location == "none" || (member != "" && location == member)
}

// clusterChange reports whether a lifecycle action may change this
// member's name (so it must be read again).
func clusterChange(action string) bool {
	return action == "cluster-enabled" || action == "cluster-disabled" || action == "cluster-member-renamed"
}
