package main

import (
	"errors"
	"flag"
	"path/filepath"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/lxdsource"
)

// The LXD event source: `--lxd-socket /var/lib/lxd/unix.socket` (or
// /var/snap/lxd/common/lxd/unix.socket) turns it on.
func init() {
	agentSources = append(agentSources, func(fs *flag.FlagSet) func() (qmpagent.SourceFactory, error) {
		socket := fs.String("lxd-socket", "", "LXD's unix socket (e.g. /var/lib/lxd/unix.socket); when set, the agent follows LXD's lifecycle and operation events of all projects (off when empty)")
		logging := fs.Bool("lxd-logging", false, "also follow LXD's logging events and publish those at warning and above (needs --lxd-socket)")
		discoverNS := fs.String("lxd-discover-namespace", "", "turn LXD discovery on: a VirtualMachine is created in this namespace for every LXD instance no VirtualMachine names (needs the vmevents-agent-discovery role)")
		maxBackoff := fs.Duration("lxd-max-reconnect-backoff", 30*time.Second, "longest wait between two attempts to reach LXD's event stream")
		return func() (qmpagent.SourceFactory, error) {
			if *socket == "" {
				if *logging {
					return nil, errors.New("--lxd-logging needs --lxd-socket")
				}
				return nil, nil
			}
			if !filepath.IsAbs(*socket) {
				return nil, errors.New("--lxd-socket must be an absolute path")
			}
			if *maxBackoff <= 0 {
				return nil, errors.New("--lxd-max-reconnect-backoff must be positive")
			}
			cfg := lxdsource.Config{
				Socket:            *socket,
				Logging:           *logging,
				MaxBackoff:        *maxBackoff,
				DiscoverNamespace: *discoverNS,
				Log:               ctrl.Log.WithName("lxd"),
			}
			return func(p qmpagent.Publisher) (manager.Runnable, error) {
				return lxdsource.New(p, cfg), nil
			}, nil
		}
	})
}
