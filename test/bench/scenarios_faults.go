package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"time"
)

// snapProcAfter samples the agent process after d.
func (b *bench) snapProcAfter(ctx context.Context, d time.Duration) procSample {
	sleepCtx(ctx, d)
	ps, _ := readProc(b.agentS.pidNow())
	return ps
}

// sortedKeys is m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// lossTable is the accounting of a phase's events by name.
func lossTable(res phaseResult) string {
	var names []string
	for k := range res.sent {
		names = append(names, k)
	}
	sort.Strings(names)
	var rows [][]string
	for _, n := range names {
		kind := "normal"
		if faults[n] {
			kind = "fault"
		}
		rows = append(rows, []string{n + " (" + kind + ")", fmt.Sprint(res.sent[n]), fmt.Sprint(res.evGain[n]), fmt.Sprint(res.evMissing[n]), fmt.Sprint(res.evExtra[n]),
			fmt.Sprint(res.stGain[n]), fmt.Sprint(res.stMissing[n]), fmt.Sprint(res.stExtra[n])})
	}
	return table([]string{"event", "written to the agent", "Event series counts gained", "missing", "extra", "status eventCounts gained", "missing", "extra"}, rows...)
}

// scenario4: the apiserver stops for a while during the scenario-2 load.
func (b *bench) scenario4(ctx context.Context) error {
	b.tr.newPhase()
	a := b.snap(ctx)
	b.lg.send("rate %g", b.p.Rate)
	stopProbes := b.probing(ctx)
	sleepCtx(ctx, b.p.OutageBefore)
	logf("stopping kube-apiserver for %s", b.p.Outage)
	stopAt := time.Now()
	b.st.Cluster.StopAPIServer()
	stopped := time.Since(stopAt)
	sleepCtx(ctx, b.p.Outage)
	startAt := time.Now()
	if err := b.st.Cluster.StartAPIServer(ctx); err != nil {
		stopProbes()
		b.lg.send("rate 0")
		return fmt.Errorf("restarting kube-apiserver: %w", err)
	}
	ready := time.Now()
	b.w.restart(ctx)
	// As the kubelet would: a controller that lost its lease during the
	// outage and exited starts again now, not after the drain (the
	// conditions of the faults sent meanwhile wait for it).
	revived := b.revive("4", false)
	leader := b.timeToLeader(ctx, ready)
	logf("kube-apiserver back after %s", ready.Sub(stopAt).Round(time.Millisecond))
	sleepCtx(ctx, b.p.OutageAfter)
	stopProbes()
	b.lg.send("rate 0")
	evMiss, stMiss := b.drain(ctx)
	b.waitProbes(ctx)
	c := b.snap(ctx)
	res := b.tr.result()
	b.clearProbes(ctx)
	condAfter := probeLatency(res.probes, func(p *probe) bool { return p.ts.After(ready) }, faultTime)
	condBefore := probeLatency(res.probes, func(p *probe) bool { return p.ts.After(stopAt) && !p.ts.After(ready) }, func(*probe) time.Time { return ready })
	survivors := b.revive("4", true)
	var evCatch, stCatch time.Time
	var during, before int
	for _, e := range res.events {
		if e.ts.After(stopAt) && e.ts.Before(ready) {
			during++
		}
		if e.ts.Before(ready) {
			before++
			if e.evSeen.After(evCatch) {
				evCatch = e.evSeen
			}
			if e.stSeen.After(stCatch) {
				stCatch = e.stSeen
			}
		}
	}
	since := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return ms(t.Sub(ready))
	}
	faultLost := sumI(res.evMissing, isFault)
	coalesced := c.agent.sum("vmevents_agent_events_coalesced_total", nil) - a.agent.sum("vmevents_agent_events_coalesced_total", nil)
	failures := groupDelta(a.agent, c.agent, "vmevents_agent_api_write_duration_seconds_count", func(l map[string]string) string {
		if l["result"] == "success" {
			return ""
		}
		return l["kind"] + " " + l["result"]
	})
	lat := latencyOf(res.events, func(e *sentEv) bool { return e.ts.After(ready) })
	body := fmt.Sprintf("The scenario-2 load runs; after %s kube-apiserver is stopped (etcd keeps running), %s later started again "+
		"(ready %s after the start command), and the load goes on for %s more. The bench restarts its own watches as soon as the apiserver "+
		"is ready, so catch-up times are the agent's, not the bench's reconnect backoff. Stopping took %s.\n\n",
		b.p.OutageBefore, b.p.Outage, ms(ready.Sub(startAt)), b.p.OutageAfter, ms(stopped))
	body += table([]string{"measure", "value"},
		[]string{"apiserver unavailable (stop command to ready again)", ms(ready.Sub(stopAt))},
		[]string{"events written to the agent: all / while the apiserver was unavailable", fmt.Sprintf("%d / %d", len(res.events), during)},
		[]string{"fault events lost (Event series counts short of what was sent)", fmt.Sprint(faultLost)},
		[]string{"all events lost as Events / in status (counts short)", fmt.Sprintf("%d / %d", sumI(res.evMissing, nil), sumI(res.stMissing, nil))},
		[]string{"events counted twice as Events / in status", fmt.Sprintf("%d / %d", sumI(res.evExtra, nil), sumI(res.stExtra, nil))},
		[]string{"occurrences coalesced into existing series (agent metric)", f0(coalesced)},
		[]string{"apiserver ready to every earlier event readable as an Event", since(evCatch)},
		[]string{"apiserver ready to every earlier event in status", since(stCatch)},
		[]string{"events never seen (drain ended): Event / status", fmt.Sprintf("%d / %d", evMiss, stMiss)},
		[]string{"failed agent writes during the outage (kind, result)", mapLine(failures)},
		[]string{"latency of events sent after the restart, to Event / to status (p50 / p99 / max)", lat.ev.String() + "; " + lat.st.String()},
		condAfter.rows("faults sent after the restart: QEMU timestamp")[0],
		condBefore.rows("faults sent while the apiserver was down: apiserver ready")[0],
		[]string{"processes when the apiserver was ready (the bench restarts what exited, as the kubelet would)", revived},
		[]string{"apiserver ready to the controller leading (`leader_election_master_status`)", leader()},
		[]string{"processes after the outage", survivors},
	)
	body += "\n" + lossTable(res)
	b.rep.section("4", fmt.Sprintf("kube-apiserver down for %s during the scenario-2 load", b.p.Outage), body)
	b.chart("4", "Scenario 4: latency of what was sent after the apiserver was back",
		series{"to Event readable", lat.ev}, series{"to status", lat.st}, series{"pausing fault to condition True", condAfter.all})
	if faultLost > 0 || sumI(res.evMissing, nil) > 0 || sumI(res.stMissing, nil) > 0 {
		b.rep.finding("4", fmt.Sprintf("across the apiserver outage %d fault events and %d events in all are missing from the Event series counts, %d from status eventCounts (of %d written)",
			faultLost, sumI(res.evMissing, nil), sumI(res.stMissing, nil), len(res.events)))
	}
	if !evCatch.IsZero() {
		b.rep.finding("4", fmt.Sprintf("after the apiserver was back it took %s until every earlier event was readable as an Event (%s for status)", since(evCatch), since(stCatch)))
	}
	if d := condAfter.all.quantile(0.99); d > 2*time.Second {
		b.rep.finding("4", fmt.Sprintf("faults sent after the apiserver was back became conditions after p99 %s (those sent during the outage %s after it was ready): "+
			"the controller leads again only %s after the apiserver is ready; until then no condition changes", ms(d), ms(condBefore.all.quantile(0.99)), leader()))
	}
	b.rep.goal("4", "zero lost fault events across an apiserver outage", fmt.Sprint(faultLost), faultLost == 0)
	return nil
}

// scenario5: the agent is SIGKILLed and restarted during the scenario-2 load.
func (b *bench) scenario5(ctx context.Context) error {
	b.tr.newPhase()
	a := b.snap(ctx)
	before := b.tr.resyncs()
	h0, _, _ := b.lg.handshakeState()
	b.lg.send("rate %g", b.p.Rate)
	start := time.Now()
	sleepCtx(ctx, b.p.KillAfter)
	logf("SIGKILL to the agent")
	killAt := time.Now()
	unread, err := b.killAgentCounting()
	if err == nil {
		err = b.st.StartAgent()
	}
	if err != nil {
		b.lg.send("rate 0")
		return err
	}
	restartAt := time.Now()
	time.Sleep(200 * time.Millisecond)
	b.trackAgent()
	n := b.p.VMs
	var tHand, tResync time.Duration
	waitFor(ctx, b.p.ConnectTimeout, func() bool {
		h, last, conn := b.lg.handshakeState()
		if tHand == 0 && conn >= n && h-h0 >= int64(n) {
			tHand = last.Sub(restartAt)
		}
		if _, r := b.tr.connectedVMs(before); tResync == 0 && r >= n {
			tResync = time.Since(restartAt)
		}
		return tHand > 0 && tResync > 0
	})
	if rest := b.p.KillRun - time.Since(start); rest > 0 {
		sleepCtx(ctx, rest)
	}
	b.lg.send("rate 0")
	evMiss, stMiss := b.drain(ctx)
	c := b.snap(ctx)
	res := b.tr.result()
	noMon := c.lg.NoMonitor - a.lg.NoMonitor
	unwritten := c.lg.Unwritten - a.lg.Unwritten
	// Events stamped between the SIGKILL and the reaping of the agent
	// went into the dying agent's sockets: lost whatever the agent does.
	var intoDead, intoDeadFault int
	intoDeadBy := map[string]int64{}
	for _, e := range res.events {
		if !e.ts.Before(killAt) && e.ts.Before(restartAt) {
			intoDead++
			intoDeadBy[e.name]++
			if faults[e.name] {
				intoDeadFault++
			}
		}
	}
	// Events the agent never read: in its sockets at the SIGKILL, gone
	// with them. Like those above, no journal can have them.
	var unreadFault int
	unreadBy := map[string]int64{}
	for _, e := range unread {
		unreadBy[e.name]++
		if faults[e.name] {
			unreadFault++
		}
	}
	dur := func(d time.Duration) string {
		if d == 0 {
			return "not reached"
		}
		return ms(d)
	}
	faultLost := sumI(res.evMissing, isFault)
	body := fmt.Sprintf("The scenario-2 load runs; after %s the agent gets SIGKILL and is started again at once (as a DaemonSet's kubelet would, minus "+
		"its restart delay); the load runs %s in all. Like QEMU, the load generator drops an event emitted while no client is connected; "+
		"those are not counted as written. Just before the SIGKILL the load generator holds its writes and the agent is stopped (SIGSTOP): "+
		"the events still in the agent's sockets then (the kernel's receive queues, read through sock_diag) are those it never read, "+
		"which die with its sockets; what the generator queues meanwhile is dropped at the disconnect.\n\n", b.p.KillAfter, b.p.KillRun)
	body += table([]string{"measure", "value"},
		[]string{"restart to every QMP session past `qmp_capabilities` again", dur(tHand)},
		[]string{"restart to every VM's status showing a new re-sync (`status.delivery.resyncs` up)", dur(tResync)},
		[]string{"events written to the agent (both agents)", fmt.Sprint(len(res.events))},
		[]string{"events dropped by the fake QEMUs while no agent was connected / queued but unwritten at the disconnect", fmt.Sprintf("%d / %d", noMon, unwritten)},
		[]string{"fault events lost (Event series counts short of what was sent)", fmt.Sprint(faultLost)},
		[]string{"events written into the killed agent's sockets between SIGKILL and its exit: all / faults", fmt.Sprintf("%d / %d", intoDead, intoDeadFault)},
		[]string{"events in the killed agent's sockets, never read (the kernel's receive queues at the SIGKILL): all / faults", fmt.Sprintf("%d / %d", len(unread), unreadFault)},
		[]string{"all events lost as Events / in status (counts short)", fmt.Sprintf("%d / %d", sumI(res.evMissing, nil), sumI(res.stMissing, nil))},
		[]string{"duplicates: Event series counts / status counts above what was sent", fmt.Sprintf("%d / %d", sumI(res.evExtra, nil), sumI(res.stExtra, nil))},
		[]string{"events never seen (drain ended): Event / status", fmt.Sprintf("%d / %d", evMiss, stMiss)},
		[]string{"new agent's RSS at the end", mib(c.proc.RSSKiB)},
	)
	body += "\n" + lossTable(res)
	b.rep.section("5", "agent SIGKILLed and restarted during the scenario-2 load", body)
	if lost := sumI(res.evMissing, nil); lost > 0 || sumI(res.stMissing, nil) > 0 {
		b.rep.finding("5", fmt.Sprintf("across the agent's SIGKILL %d events (%d of them faults) written to the agent are missing from the Event series counts and %d from status eventCounts; "+
			"%d (%d faults) were written into the killed agent's sockets between the SIGKILL and its exit and %d (%d faults) were in them unread at the SIGKILL (no process read them, so no journal can have them)",
			lost, faultLost, sumI(res.stMissing, nil), intoDead, intoDeadFault, len(unread), unreadFault))
	}
	if extra := sumI(res.evExtra, nil) + sumI(res.stExtra, nil); extra > 0 {
		b.rep.finding("5", fmt.Sprintf("%d events were counted twice after the restart (Event series %d, status %d)", extra, sumI(res.evExtra, nil), sumI(res.stExtra, nil)))
	}
	// Every kind, Normal and fault, as Events and in status: what the agent
	// had read (not what went into the dead agent's sockets) all there,
	// nothing twice; the agent's journal is what the next agent replays.
	var kinds []string
	exact := true
	for _, n := range sortedKeys(res.sent) {
		evLost := max(0, res.evMissing[n]-intoDeadBy[n]-unreadBy[n])
		stLost := max(0, res.stMissing[n]-intoDeadBy[n]-unreadBy[n])
		exact = exact && evLost == 0 && stLost == 0 && res.evExtra[n] == 0 && res.stExtra[n] == 0
		kinds = append(kinds, fmt.Sprintf("%s %d/%d/%d/%d", n, evLost, res.evExtra[n], stLost, res.stExtra[n]))
	}
	b.rep.goal("5", "every kind across an agent SIGKILL (of what the agent had read): missing 0 and extra 0 as Event series counts and in status",
		"missing/extra Event, missing/extra status: "+strings.Join(kinds, ", "), exact)
	readLost := max(0, faultLost-int64(intoDeadFault+unreadFault))
	b.rep.goal("5", "zero lost fault events across an agent SIGKILL (of those the agent had read)",
		fmt.Sprintf("%d (%d in all, %d written into the killed agent's sockets, %d never read from them)", readLost, faultLost, intoDeadFault, unreadFault), readLost == 0)
	return nil
}

// killAgentCounting SIGKILLs the agent and returns the events it never
// read: the load generator's writes are held and the agent stopped
// (SIGSTOP) first, so that what is still in its sockets' receive queues
// is exactly what it had not read when it died. What the generator queues
// meanwhile goes to no agent: it is counted as unwritten at the
// disconnect.
func (b *bench) killAgentCounting() ([]eventLine, error) {
	defer b.lg.release()
	if err := b.lg.hold(); err != nil {
		return nil, err
	}
	if err := b.st.SignalAgent(syscall.SIGSTOP); err != nil {
		return nil, err
	}
	unread, err := b.lg.unreadEvents()
	b.st.KillAgent()
	return unread, err
}

// revive starts the controller or the agent again if it exited (as the
// kubelet would restart its pod) and says what happened.
func (b *bench) revive(scenario string, agentToo bool) string {
	var out []string
	if _, err := childPid(b.o.Binary, "controller"); err != nil {
		b.rep.finding(scenario, "the controller exited (see its log: `leader election lost`) and the bench started it again in the same pod (`POD_NAME`), as the kubelet would")
		if err := b.st.EnsureController(); err != nil {
			return "controller exited; restarting it failed: " + err.Error()
		}
		time.Sleep(100 * time.Millisecond)
		b.trackController()
		out = append(out, "the controller had exited (leader election lost) and was started again")
	} else {
		out = append(out, "controller still running")
	}
	if !agentToo {
		return strings.Join(out, "; ")
	}
	if _, err := childPid(b.o.Binary, "agent"); err != nil {
		b.rep.finding(scenario, "the agent exited and the bench started it again, as the kubelet would")
		if err := b.st.StartAgent(); err != nil {
			return "agent exited; restarting it failed: " + err.Error()
		}
		time.Sleep(100 * time.Millisecond)
		b.trackAgent()
		out = append(out, "the agent had exited and was started again")
	} else {
		out = append(out, "agent still running")
	}
	return strings.Join(out, "; ")
}
