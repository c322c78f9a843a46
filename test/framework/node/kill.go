package node

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// killMatching kills every process whose command line contains s.
func killMatching(s string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), s) {
			killPid(e.Name())
		}
	}
}

func killPid(pid string) {
	if p, err := strconv.Atoi(pid); err == nil && p > 1 && p != os.Getpid() {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}
