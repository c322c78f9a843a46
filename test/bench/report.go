package main

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/qmp"
	"github.com/vmevents/vmevents/test/framework/benchdoc"
)

type goal struct {
	scenario, text, measured string
	met                      bool
}

// report collects what the scenarios measured and renders docs/benchmarks.md.
type report struct {
	o        options
	p        params
	machine  []string
	vers     []string
	sections map[string]string
	titles   map[string]string
	goals    []goal
	errors   map[string]string
	findings []string
	links    map[string][]string // charts by scenario
	total    time.Duration
}

func newReport(o options, p params) *report {
	r := &report{o: o, p: p, sections: map[string]string{}, titles: map[string]string{}, errors: map[string]string{}, links: map[string][]string{}}
	r.machine = benchdoc.Machine()
	return r
}

func (r *report) section(n, title, body string) { r.sections[n], r.titles[n] = body, title }

func (r *report) goal(n, text, measured string, met bool) {
	r.goals = append(r.goals, goal{n, text, measured, met})
}

// link shows a chart (path relative to the markdown) below a scenario's tables.
func (r *report) link(n, title, path string) {
	r.links[n] = append(r.links[n], fmt.Sprintf("[%s](%s):\n\n![%s](%s)\n", title, path, title, path))
}

func (r *report) finding(n, text string) {
	r.findings = append(r.findings, "Scenario "+n+": "+text+".")
}

func (r *report) failed(n string, err error) { r.errors[n] = err.Error() }

func (r *report) versions(ctx context.Context, b *bench) {
	goVer, _ := exec.Command("go", "version").Output()
	r.vers = append(r.vers, "Go: `"+strings.TrimSpace(string(goVer))+"`")
	if v, err := b.kc.Discovery().ServerVersion(); err == nil {
		r.vers = append(r.vers, "kube-apiserver: `"+v.GitVersion+"` (built from the Go module proxy by hack/control-plane.sh), etcd from the same folder")
	}
	if out, err := exec.Command(b.o.Binary, "version").CombinedOutput(); err == nil {
		r.vers = append(r.vers, "vmevents: `"+strings.TrimSpace(string(out))+"`")
	}
	if src := benchdoc.Source(); src != "" {
		r.vers = append(r.vers, src)
	}
	agent := fmt.Sprintf("the DaemonSet's flags (defaults: `--status-interval %s`, `--kube-api-qps %d`, `--kube-api-burst %d`, `--qmp-event-queue %d`) and `%s` (every event an Event)",
		qmpagent.DefaultStatusInterval, qmpagent.DefaultKubeAPIQPS, qmpagent.DefaultKubeAPIBurst, qmp.DefaultQueueSize, benchSilence)
	if b.o.agentArgs != "" {
		agent += " plus `" + b.o.agentArgs + "`"
	}
	r.vers = append(r.vers, "agent and controller: "+agent)
}

func (r *report) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# System benchmarks\n\n")
	w("The real agent and controller (`bin/vmevents`, as local processes under their service-account identities and RBAC) against a real ")
	w("etcd and kube-apiserver, with `test/loadgen` playing up to %d QEMUs on one node: a fake QEMU that speaks QMP exactly as QEMU 7.2 writes it ", r.p.VMs)
	w("(greeting, `qmp_capabilities`, answers to the agent's queries, events stamped with the wall clock in seconds and microseconds). ")
	w("Everything on this page was printed by one run of `%s` (`hack/bench.sh`)", r.o.command)
	if r.o.quick {
		w(" in **quick mode** (`-quick`: small sizes, short runs; not the issue's numbers)")
	}
	w("; it took %s.\n\n", r.total.Round(time.Second))
	w("## Machine and versions\n\n")
	for _, l := range append(append([]string{}, r.machine...), r.vers...) {
		w("- %s\n", l)
	}
	w("\nThe numbers are one run's: on a shared 2-core machine the CPU and latency figures move by tens of percent between runs ")
	w("(the bench itself, etcd, kube-apiserver, the controller and the load generator share the same two cores with the agent).\n\n")
	w("## Goals\n\n")
	var rows [][]string
	for _, g := range r.goals {
		v := "met"
		if !g.met {
			v = "**not met**"
		}
		rows = append(rows, []string{g.scenario, g.text, g.measured, v})
	}
	var failed []string
	for n := range r.errors {
		failed = append(failed, n)
	}
	sort.Strings(failed)
	for _, n := range failed {
		rows = append(rows, []string{n, "scenario ran to the end", r.errors[n], "**not met**"})
	}
	w("%s\n", table([]string{"scenario", "goal", "measured", ""}, rows...))
	if len(r.findings) > 0 {
		w("Seen during the run:\n\n")
		for _, f := range r.findings {
			w("- %s\n", f)
		}
		w("\n")
	}
	for _, n := range []string{"1", "2", "3", "4", "5", "6", "7", "8"} {
		body, ok := r.sections[n]
		if !ok && r.errors[n] == "" {
			continue
		}
		w("## Scenario %s: %s\n\n", n, r.titles[n])
		if body != "" {
			w("%s\n", body)
		}
		for _, l := range r.links[n] {
			w("%s\n", l)
		}
		if e := r.errors[n]; e != "" {
			w("The scenario did not finish: `%s`\n\n", strings.ReplaceAll(e, "`", "'"))
		}
	}
	w("## How it measures\n\n")
	w("- **Sent**: the load generator reports every event it wrote to an agent's connection, with its QEMU timestamp. ")
	w("An event emitted while no client is connected is dropped, as QEMU does, and counted apart.\n")
	w("- **Readable as an Event**: the bench watches events.k8s.io Events as the admin. An event counts as readable when the agent's Events about its VM ")
	w("with its reason add up to a series count that includes it and one of them has an `eventTime` or `series.lastObservedTime` at or after its ")
	w("timestamp (the agent sets both from QEMU's timestamps). Repeats fold into one Event's series, written at most once a second, so the count ")
	w("and last-observed time are what a reader can see.\n")
	w("- **In status**: the bench watches VirtualMachines; an event is in status when `status.eventCounts` for its name reaches its rank.\n")
	w("- **Condition True**: every %s during the loads of scenarios 2 to 4 the bench has the load generator pause one VM by a fault (GUEST_PANICKED and WATCHDOG with action pause, ", probeInterval)
	w("BLOCK_IO_ERROR with action stop; then STOP, and `query-status` answering `guest-panicked`, `watchdog` or `io-error`), on a VM whose condition (GuestPanicked, ")
	w("WatchdogExpired, IOError) its watch shows not True: only flips are timed. The fault is timed from its QEMU timestamp to the moment the watch on VirtualMachines ")
	w("sees the condition True with a `lastTransitionTime` not before the fault's second; a condition seen True with an earlier transition (a fault of the normal mix ")
	w("came first) is counted as already True and not timed. After each scenario the bench resets and resumes the paused VMs (RESET, RESUME). ")
	w("IOError turns True on the error itself (reason RecentErrors) before the pause makes it PausedOnError: the first is what `kubectl wait` sees.\n")
	w("- **Lost / duplicated**: per VM and event name, what the Event series counts and `status.eventCounts` gained during the scenario against what was written to the agent.\n")
	w("- **API requests**: kube-apiserver's `apiserver_request_total` (read from its `/metrics` as the admin), watches left out, and the agent's own `vmevents_agent_api_write_duration_seconds_count`.\n")
	w("- **CPU and memory**: `/proc/<pid>/stat` (utime + stime) and `/proc/<pid>/status` (VmRSS, VmHWM) of the agent and controller processes.\n\n")
	w("The charts are the cumulative latency distributions of a scenario's events (share seen by a given time, log scale) and, for scenario 3, the write rates ")
	w("sampled every second (the agent's metrics, the bench's watches), drawn by the bench beside this page (`docs/bench/`).\n\n")
	w("Run it: `make bench` (this page, about 25 minutes, then the QMP client benchmark of `docs/qmp-benchmark.md`), ")
	w("`hack/bench.sh -quick` (about 5 minutes, writes nothing unless `-out` is given), `hack/bench.sh -h` for the knobs; logs of every process are left in `_out/bench/logs/`.\n")
	return b.String()
}

// clientLimit names the agent's default client-side rate limit.
func clientLimit() string {
	return fmt.Sprintf("%d requests/s (`--kube-api-qps %d`, burst %d)", qmpagent.DefaultKubeAPIQPS, qmpagent.DefaultKubeAPIQPS, qmpagent.DefaultKubeAPIBurst)
}
