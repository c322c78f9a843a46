package qmpagent

// Crash stands in for the agent process being killed (SIGKILL): its spool
// journals are let go without an fsync, a flush or a close, as the kernel
// does with a dead process's files, and take no more appends: what the
// "dead" agent's goroutines do next cannot reach the disk. What it wrote
// stays in the files (the page cache outlives the process) for the next
// agent to open.
func Crash(a *Agent) {
	if s := a.status.spool; s != nil {
		_ = s.j.Abandon()
	}
	CrashEvents(a.events)
}

// CrashEvents is Crash for an Events publisher of its own.
func CrashEvents(e *Events) {
	if e.spool != nil {
		_ = e.spool.spool.j.Abandon()
	}
}
