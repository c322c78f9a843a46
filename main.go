// Command vmevents makes virtual machines on Kubernetes nodes observable the
// Kubernetes way. One binary, three subcommands:
//
//	vmevents controller   turns the agents' facts into VirtualMachine conditions
//	vmevents agent        node agent: hypervisor events -> VirtualMachine status and Events
//	vmevents version      prints the version
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vmevents/vmevents/internal/version"
)

// subcommand is one of the binary's modes; run gets the arguments after its name.
type subcommand struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

func subcommands() []subcommand {
	return []subcommand{
		{"controller", "run the controller that turns VM facts into conditions", runController},
		{"agent", "run the node agent that publishes hypervisor events", runAgent},
		{"version", "print the version", runVersion},
	}
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the subcommand named by args[0] and returns the exit code:
// 0 on success, 1 when the subcommand failed, 2 on a usage error.
func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	}
	for _, c := range subcommands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(stderr, "vmevents %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "vmevents: unknown subcommand %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "vmevents %s: Kubernetes-native events and conditions for QEMU/KVM, libvirt and LXD virtual machines\n\n", version.Version)
	fmt.Fprintf(w, "Usage:\n  vmevents <subcommand> [flags]\n\nSubcommands:\n")
	for _, c := range subcommands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'vmevents <subcommand> --help' for its flags.\n")
}

// errUsage marks a bad command line; the flag package has already said why.
var errUsage = errors.New("usage")

// parseFlags parses args into fs, printing errors and help to stderr/stdout
// the way users expect: --help is not an error, a bad flag is a usage error.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	fs.SetOutput(stderr)
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(stdout)
			break
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v\n", fs.Args())
		fs.Usage()
		return errUsage
	}
	return nil
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vmevents version", flag.ContinueOnError)
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprintln(stdout, version.Version)
	return nil
}
