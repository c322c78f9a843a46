package source

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// Claims keeps which VirtualMachine holds each hypervisor object of one
// source (a resolved socket path, an LXD project/instance, a libvirt
// domain): never one object for two VMs. The first VM to claim an object
// keeps it until it lets it go (its session ends, it names another object
// or it is refused for another reason); a later one is refused, told who
// holds it, and may try again. The zero value is ready to use; it is safe
// for concurrent use.
type Claims struct {
	mu sync.Mutex
	// holder of each object, and the object each VM holds: one each.
	holder map[string]types.NamespacedName
	held   map[types.NamespacedName]string
}

// Claim gives object (what describes how the user sees it: a path, a
// project/instance) to vm, unless another VM holds it: then it returns
// ErrInUse naming the holder. A VM holds one object of a source at a
// time: claiming another lets go of the one it held.
func (c *Claims) Claim(object string, vm types.NamespacedName) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.holder[object]; ok && h != vm {
		return fmt.Errorf("%w: %s is held by VirtualMachine %s, which claimed it first", ErrInUse, object, h)
	}
	if c.holder == nil {
		c.holder, c.held = map[string]types.NamespacedName{}, map[types.NamespacedName]string{}
	}
	if old, ok := c.held[vm]; ok && old != object {
		delete(c.holder, old)
	}
	c.holder[object], c.held[vm] = vm, object
	return nil
}

// Release lets go of what vm holds, if anything.
func (c *Claims) Release(vm types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.held[vm]; ok {
		delete(c.holder, old)
		delete(c.held, vm)
	}
}

// Holder returns the VM holding object, if any.
func (c *Claims) Holder(object string) (types.NamespacedName, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.holder[object]
	return h, ok
}

// Retain lets go of what every VM but those in keep holds: for sources
// that look at all their VMs now and then, so that a VM gone lets go.
func (c *Claims) Retain(keep map[types.NamespacedName]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for vm, object := range c.held {
		if !keep[vm] {
			delete(c.holder, object)
			delete(c.held, vm)
		}
	}
}
