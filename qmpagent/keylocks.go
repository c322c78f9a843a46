package qmpagent

import (
	"hash/fnv"
	"sync"
)

// keyLocks orders the work on each key (a VM, an Event series) without
// making keys wait for each other: a fixed set of mutexes, a key's being
// the one it hashes to. Two keys may share one, which costs a wait, never
// a wrong order; a fixed set needs no cleanup when keys go. The zero value
// is ready to use.
type keyLocks struct {
	stripes [keyLockStripes]sync.Mutex
}

// keyLockStripes is many more than the agent's sources and writers run at
// once, so that keys rarely share one.
const keyLockStripes = 256

// of is key's mutex.
func (l *keyLocks) of(key string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return &l.stripes[h.Sum32()%keyLockStripes]
}
