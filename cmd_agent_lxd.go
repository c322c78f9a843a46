package main

import (
	"errors"
	"flag"
	"path/filepath"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/vmevents/vmevents/qmpagent/source"
	"github.com/vmevents/vmevents/qmpagent/source/lxdsource"
)

// lxdFlags turn on the LXD event source: `--lxd-socket
// /var/lib/lxd/unix.socket` (or /var/snap/lxd/common/lxd/unix.socket).
type lxdFlags struct {
	socket     *string
	logging    *bool
	stateFile  *string
	discoverNS *string
	maxBackoff *time.Duration
}

func bindLXDFlags(fs *flag.FlagSet) *lxdFlags {
	return &lxdFlags{
		socket:     fs.String("lxd-socket", "", "LXD's unix socket (e.g. /var/lib/lxd/unix.socket); when set, the agent follows LXD's lifecycle and operation events of all projects (off when empty)"),
		logging:    fs.Bool("lxd-logging", true, "follow LXD's logging events and publish those at warning and above (a bridge LXD failed to configure...); --lxd-logging=false opts out"),
		stateFile:  fs.String("lxd-state-file", "/var/lib/vmevents/lxd-renames.json", "file keeping renamed LXD instances across agent restarts, so a VirtualMachine keeps following an instance renamed after it was created (empty: in memory only)"),
		discoverNS: fs.String("lxd-discover-namespace", "", "turn LXD discovery on: a VirtualMachine is created in this namespace for every LXD instance no VirtualMachine names (needs the vmevents-agent-discovery role)"),
		maxBackoff: fs.Duration("lxd-max-reconnect-backoff", 30*time.Second, "longest wait between two attempts to reach LXD's event stream"),
	}
}

func (f *lxdFlags) validate() error {
	switch {
	case *f.socket == "":
		return nil
	case !filepath.IsAbs(*f.socket):
		return errors.New("--lxd-socket must be an absolute path")
	case *f.stateFile != "" && !filepath.IsAbs(*f.stateFile):
		return errors.New("--lxd-state-file must be an absolute path")
	case *f.maxBackoff <= 0:
		return errors.New("--lxd-max-reconnect-backoff must be positive")
	}
	return nil
}

// sources is the LXD source when the flags turn it on, publishing through p,
// telling each VM only of the projects tenancy grants its namespace.
func (f *lxdFlags) sources(p source.Publisher, tenancy source.Tenancy) []source.Source {
	if *f.socket == "" {
		return nil
	}
	return []source.Source{lxdsource.New(p, lxdsource.Config{
		Socket:            *f.socket,
		IgnoreLogging:     !*f.logging,
		StateFile:         *f.stateFile,
		MaxBackoff:        *f.maxBackoff,
		DiscoverNamespace: *f.discoverNS,
		Tenancy:           tenancy,
		Log:               ctrl.Log.WithName("lxd"),
	})}
}
