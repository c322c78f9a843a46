package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runAgent(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vmevents agent", flag.ContinueOnError)
	var common commonFlags
	common.bind(fs)
	nodeName := fs.String("node-name", os.Getenv("NODE_NAME"), "the node this agent runs on (default $NODE_NAME)")
	var roots stringList
	fs.Var(&roots, "socket-root", "folder under which QMP sockets are trusted, after resolving symlinks; repeatable (default /var/run/vmevents)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: vmevents agent [flags]\n\nNode agent: follows the hypervisor event streams of the VirtualMachines on\nthis node and publishes them as VirtualMachine status and Kubernetes Events.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *nodeName == "" {
		fmt.Fprintln(stderr, "--node-name is required (or set $NODE_NAME, as the DaemonSet does from the downward API)")
		return errUsage
	}
	return fmt.Errorf("the agent is not built yet")
}
