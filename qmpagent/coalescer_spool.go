package qmpagent

// UseSpool makes the Coalescer keep failed values in s and returns the
// values s kept from an earlier run; the caller Puts them (after setting up
// whatever the write function needs to write them). onError, if not nil, is
// told what s could not keep.
func (c *Coalescer[K, V]) UseSpool(s *Spool[K, V], onError func(error)) (map[K]V, []error) {
	kept, errs := s.Load()
	c.mu.Lock()
	c.spool, c.spooled, c.onSpoolError = s, map[K]bool{}, onError
	for k := range kept {
		c.spooled[k] = true
	}
	c.mu.Unlock()
	return kept, errs
}

// keep saves a value whose write failed in the spool, if there is one. The
// newest value for the key replaces an older one there too.
func (c *Coalescer[K, V]) keep(key K, v V) {
	c.mu.Lock()
	s := c.spool
	if newer, ok := c.pending[key]; ok {
		v = newer
	}
	c.mu.Unlock()
	if s == nil {
		return
	}
	if err := s.Save(key, v); err != nil {
		if c.onSpoolError != nil { // set once, before Run
			c.onSpoolError(err)
		}
		return
	}
	c.mu.Lock()
	c.spooled[key] = true
	c.mu.Unlock()
}

// release drops a key's spooled value once a write succeeded.
func (c *Coalescer[K, V]) release(key K) {
	c.mu.Lock()
	s, was := c.spool, c.spooled[key]
	delete(c.spooled, key)
	c.mu.Unlock()
	if s != nil && was {
		_ = s.Delete(key)
	}
}
