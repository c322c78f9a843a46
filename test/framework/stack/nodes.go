package stack

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vmevents/vmevents/test/framework/localcluster"
	"github.com/vmevents/vmevents/test/framework/proc"
)

// NodeAgent is an agent on a node of its own, beside the stack's node: a
// cluster of many nodes on one machine, each agent with its node's
// identity (a token bound to a pod on that node), its own heartbeat Lease,
// socket root and spool.
type NodeAgent struct {
	// Node is the node it reports as.
	Node string
	// SocketRoot is the folder it trusts QMP sockets under.
	SocketRoot string
	// SpoolDir holds what the apiserver has not accepted yet.
	SpoolDir string
	// Log is its log file.
	Log string
	p   *proc.Process
}

// Pid is the agent process's id.
func (a *NodeAgent) Pid() int { return a.p.Pid() }

// Stop stops the agent gracefully.
func (a *NodeAgent) Stop() { a.p.Stop(15 * time.Second) }

// StartAgentOn starts `vmevents agent` for node (the Node and a pod of the
// agent on it are created if missing) with socketRoot as its socket root
// (the caller's: sockets paths are short) and args added to the DaemonSet's
// flags. Its spool is under the stack's folder; its log is
// LogFile("agent-" + node). Down stops it.
func (s *Stack) StartAgentOn(ctx context.Context, node, socketRoot string, args ...string) (*NodeAgent, error) {
	kubeconfig, err := s.Cluster.PodKubeconfig(ctx, localcluster.PodIdentity{Namespace: "vmevents-system", ServiceAccount: "vmevents-agent", Node: node})
	if err != nil {
		return nil, err
	}
	a := &NodeAgent{Node: node, SocketRoot: socketRoot, SpoolDir: filepath.Join(s.Dir, "nodes", node, "spool"), Log: s.LogFile("agent-" + node)}
	for _, d := range []string{socketRoot, a.SpoolDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	a.p, err = proc.Start("agent-"+node, a.Log, s.Binary, append(agentArgs(kubeconfig, node, socketRoot, a.SpoolDir), args...)...)
	if err != nil {
		return nil, err
	}
	s.nodeAgents = append(s.nodeAgents, a)
	return a, nil
}

// StopNodeAgents stops every agent StartAgentOn started, all at once.
func (s *Stack) StopNodeAgents() {
	var wg sync.WaitGroup
	for _, a := range s.nodeAgents {
		wg.Add(1)
		go func() { defer wg.Done(); a.Stop() }()
	}
	wg.Wait()
	s.nodeAgents = nil
}
