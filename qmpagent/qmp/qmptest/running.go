package qmptest

// RunningQEMU answers the queries a client makes after connecting the way
// an idle, running QEMU without SPICE or a balloon does; other commands get
// CommandNotFound. Use it with Peer.Respond.
func RunningQEMU(c Command) string {
	switch c.Execute {
	case "query-status":
		return Return(c.ID, map[string]any{"running": true, "singlestep": false, "status": "running"})
	case "query-name":
		return Return(c.ID, map[string]any{"name": "fake"})
	case "query-uuid":
		return Return(c.ID, map[string]any{"UUID": "5f0c3a3e-8d1b-4c55-9a4e-2b7f6c1d9e20"})
	case "query-vnc":
		return Return(c.ID, map[string]any{"enabled": false})
	case "query-block":
		return Return(c.ID, []any{})
	default:
		return Error(c.ID, "CommandNotFound", "The command "+c.Execute+" has not been found")
	}
}
