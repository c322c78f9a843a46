package qmpagent

import (
	"hash/maphash"
	"sync"
)

// keyLocks orders the work on each key (a VM, an Event series) without
// making keys wait for each other: a fixed set of mutexes, a key's being
// the one it hashes to. Two keys may share one, which costs a wait, never
// a wrong order; a fixed set needs no cleanup when keys go. The zero value
// is ready to use. It is on every fact update and Event occurrence, so
// finding a key's mutex allocates nothing.
type keyLocks[K comparable] struct {
	stripes [keyLockStripes]sync.Mutex
}

// keyLockStripes is many more than the agent's sources and writers run at
// once, so that keys rarely share one.
const keyLockStripes = 256

// keyLockSeed seeds every keyLocks' hash: fixed for the process, so that
// a key always finds the same mutex.
var keyLockSeed = maphash.MakeSeed()

// of is key's mutex.
func (l *keyLocks[K]) of(key K) *sync.Mutex {
	return &l.stripes[maphash.Comparable(keyLockSeed, key)%keyLockStripes]
}
