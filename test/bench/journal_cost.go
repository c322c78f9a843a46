package main

import (
	"context"
	"fmt"
	"time"
)

// journalCost is what the agent's write-ahead journal (the spool) did
// between two snapshots, per second.
func journalCost(a, c snapshot) string {
	secs := c.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return "-"
	}
	rate := func(name string) float64 { return (c.agent.sum(name, nil) - a.agent.sum(name, nil)) / secs }
	return fmt.Sprintf("%.0f appends/s, %.1f KiB/s, %.2f fsyncs/s", rate("vmevents_agent_journal_appends_total"),
		rate("vmevents_agent_journal_bytes_total")/1024, rate("vmevents_agent_journal_fsyncs_total"))
}

// journalCPU runs the scenario-2 rate for d with the agent's journal, then
// (the agent restarted with `--spool-dir=`) without it, then with it
// again, and reports the agent's CPU in each phase: the journal's CPU cost
// at that rate. The agent is left running with its journal.
func (b *bench) journalCPU(ctx context.Context, d time.Duration) [][]string {
	phase := func() (float64, string) {
		b.tr.newPhase()
		a := b.snap(ctx)
		b.runLoadAt(ctx, b.p.Rate, d)
		end, _ := readProc(b.agentS.pidNow())
		c := b.snap(ctx)
		b.drain(ctx)
		return cpuPercent(a.proc, end), journalCost(a, c)
	}
	args := b.st.AgentArgs
	with1, cost := phase()
	b.restartAgent(ctx, append(append([]string(nil), args...), "--spool-dir="))
	without, _ := phase()
	b.restartAgent(ctx, args)
	with2, _ := phase()
	with := (with1 + with2) / 2
	change := "-"
	if without > 0 {
		change = fmt.Sprintf("%+.0f %%", (with-without)/without*100)
	}
	b.rep.goal("2", fmt.Sprintf("agent CPU at %g events/s with the journal within 10 %% of without", b.p.Rate),
		fmt.Sprintf("%.1f %% vs %.1f %% (%s)", with, without, change), without > 0 && with <= without*1.1)
	return [][]string{
		{fmt.Sprintf("agent CPU at %g events/s, %s each: with the journal / without (`--spool-dir=`) / with again", b.p.Rate, d),
			fmt.Sprintf("%.1f %% / %.1f %% / %.1f %% (with vs without: %s)", with1, without, with2, change)},
		{"journal in the first of those phases", cost},
	}
}

// restartAgent stops the agent (gracefully), starts it with args and waits
// until every VM's QMP session is up again and its re-sync written.
func (b *bench) restartAgent(ctx context.Context, args []string) {
	h0, _, _ := b.lg.handshakeState()
	b.st.StopAgent()
	b.st.AgentArgs = args
	if err := b.st.StartAgent(); err != nil {
		logf("restarting the agent: %v", err)
		return
	}
	time.Sleep(200 * time.Millisecond)
	b.trackAgent()
	n := b.p.VMs
	waitFor(ctx, b.p.ConnectTimeout, func() bool {
		h, _, conn := b.lg.handshakeState()
		return conn >= n && h-h0 >= int64(n)
	})
	// The re-sync's status writes, one per VM, go out at the client's rate.
	sleepCtx(ctx, 5*time.Second)
}
