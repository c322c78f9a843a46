package qmpagent

// UseSpool makes the Coalescer's values survive the agent: the caller
// saves each value in s before it Puts it (SaveAhead), a successful write
// deletes it unless a newer one was saved meanwhile, and a failed write
// has it fsynced. It returns the values s kept from an earlier run; the
// caller Puts them (after setting up whatever the write function needs to
// write them). onError, if not nil, is told what s could not keep. Call
// it before Run.
func (c *Coalescer[K, V]) UseSpool(s *Spool[K, V], onError func(error)) (map[K]V, []error) {
	kept, errs := s.Load()
	c.spool, c.onSpoolError = s, onError
	return kept, errs
}

// SaveAhead saves v, key's newest value, in the spool (if there is one)
// before the caller Puts it: write-ahead, so the apiserver never holds a
// value the spool did not have first.
func (c *Coalescer[K, V]) SaveAhead(key K, v V) {
	if c == nil || c.spool == nil { // set once, before Run
		return
	}
	if err := c.spool.Save(key, v); err != nil && c.onSpoolError != nil {
		c.onSpoolError(err)
	}
}

// syncSpool makes the spool's values survive the node after a failed
// write: the value (or a newer one) was saved ahead; it is fsynced now,
// since an outage may be the node's or the cluster's restart.
func (c *Coalescer[K, V]) syncSpool() {
	if c.spool == nil {
		return
	}
	if err := c.spool.Sync(); err != nil && c.onSpoolError != nil {
		c.onSpoolError(err)
	}
}

// release trims key's value from the spool after v was written: it goes,
// unless a newer one was saved since (that stays, for its own write).
func (c *Coalescer[K, V]) release(key K, v V) {
	if c.spool == nil { // set once, before Run
		return
	}
	if err := c.spool.DeleteIf(key, v); err != nil && c.onSpoolError != nil {
		c.onSpoolError(err)
	}
}

// drop deletes a forgotten key's value from the spool, whatever it is.
func (c *Coalescer[K, V]) drop(key K) {
	if c.spool == nil {
		return
	}
	if err := c.spool.Delete(key); err != nil && c.onSpoolError != nil {
		c.onSpoolError(err)
	}
}
