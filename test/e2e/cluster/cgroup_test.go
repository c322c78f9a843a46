package cluster

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// cgroup is a container's cgroup as the host sees it: under the memory
// controller's hierarchy on cgroup v1, or the unified tree on v2.
type cgroup struct {
	dir string
	v2  bool
}

// containerCgroup finds the cgroup the runtime made for a container id.
func containerCgroup(id string) cgroup {
	GinkgoHelper()
	cg := cgroup{dir: "/sys/fs/cgroup/memory"}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		cg = cgroup{dir: "/sys/fs/cgroup", v2: true}
	}
	found := ""
	// The node's pods live under its own cgroup root (vmevents-node-*).
	roots, _ := filepath.Glob(filepath.Join(cg.dir, "vmevents-node-*"))
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && strings.HasSuffix(d.Name(), id) {
				found = path
				return filepath.SkipAll
			}
			return nil
		})
	}
	Expect(found).NotTo(BeEmpty(), "no cgroup for container %s", id)
	cg.dir = found
	return cg
}

// pid is one process of the container (its entrypoint: it has no other).
func (c cgroup) pid() string {
	GinkgoHelper()
	b, err := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
	Expect(err).NotTo(HaveOccurred())
	pids := strings.Fields(string(b))
	Expect(pids).NotTo(BeEmpty())
	return pids[0]
}

// peakMemory is the most memory the container has used, in bytes.
func (c cgroup) peakMemory() int64 {
	GinkgoHelper()
	file := "memory.max_usage_in_bytes"
	if c.v2 {
		file = "memory.peak"
	}
	b, err := os.ReadFile(filepath.Join(c.dir, file))
	Expect(err).NotTo(HaveOccurred())
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	Expect(err).NotTo(HaveOccurred())
	return n
}
