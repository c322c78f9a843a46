package node

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// kernelTunables are the host-wide sysctls the kubelet sets at start
// (protectKernelDefaults false): saved before and put back on teardown, so
// the host is left as it was. Network sysctls need no care: they belong to
// the node's network namespace and go with it.
var kernelTunables = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"}

// hostState is what the node changes on the host and teardown undoes.
type hostState struct {
	sysctls map[string]string
	// madeFolders were created as mount points and are removed again.
	madeFolders []string
	// cgroup is the node's cgroup root (the kubelet's cgroupRoot), under
	// every hierarchy: its pods live below it.
	cgroup string
}

func saveHostState(id string) *hostState {
	h := &hostState{sysctls: map[string]string{}, cgroup: "vmevents-node-" + id}
	for _, k := range kernelTunables {
		if b, err := os.ReadFile(filepath.Join("/proc/sys", k)); err == nil {
			h.sysctls[k] = strings.TrimSpace(string(b))
		}
	}
	return h
}

// restore puts the sysctls back and removes the kubelet's cgroups and the
// folders made for the node.
func (h *hostState) restore() {
	for k, v := range h.sysctls {
		_ = os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644)
	}
	removeCgroups(h.cgroup)
	for i := len(h.madeFolders) - 1; i >= 0; i-- {
		_ = os.RemoveAll(h.madeFolders[i])
	}
}

// cgroupRoots are the mounted cgroup hierarchies (v1: one per controller;
// v2: the one unified tree).
func cgroupRoots() []string {
	var roots []string
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	for _, e := range entries {
		if e.IsDir() {
			roots = append(roots, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	return roots
}

// makeCgroup creates the cgroup name in every hierarchy: the kubelet wants
// its cgroupRoot to exist.
func makeCgroup(name string) error {
	for _, root := range cgroupRoots() {
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// killCgroup kills every process in each hierarchy's cgroup name and below
// it: the containers the runtime left (their shims are gone by then).
func killCgroup(name string) {
	for _, root := range cgroupRoots() {
		_ = filepath.WalkDir(filepath.Join(root, name), func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
			for _, pid := range strings.Fields(string(b)) {
				killPid(pid)
			}
			return nil
		})
	}
}

// removeCgroups removes the cgroup name, deepest first, in every hierarchy.
func removeCgroups(name string) {
	for _, root := range cgroupRoots() {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(root, name), func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	}
}
