// Package benchdoc holds what the benchmark pages of docs/ say about the
// run that wrote them: the machine and the source. The system benchmarks
// (test/bench) and the QMP client benchmark (test/qmpbench, a module of its
// own) both use it, so it imports nothing beyond the standard library.
package benchdoc

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// CPUModel is the processor's model name from /proc/cpuinfo.
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// Machine describes the machine as markdown list items: CPUs, memory,
// kernel, and the load when the run started (the machine may be shared).
func Machine() []string {
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.Split(string(b), "\n")[0], "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/1024/1024)
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	load := "unknown"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = strings.Join(f[:3], ", ")
		}
	}
	return []string{
		fmt.Sprintf("%d CPUs (`nproc`), `%s`%s, Linux %s", runtime.NumCPU(), CPUModel(), mem, strings.TrimSpace(string(kernel))),
		fmt.Sprintf("load average when the run started: %s (the machine is shared with other builds and tests)", load),
	}
}

// Source names the commit the run was built from, as a markdown list item,
// and says when the work tree had uncommitted changes; "" outside a git
// work tree.
func Source() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	dirty := ""
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		dirty = " with uncommitted changes"
	}
	return "source: commit `" + strings.TrimSpace(string(out)) + "`" + dirty
}
