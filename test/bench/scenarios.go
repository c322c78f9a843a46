package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// table renders rows of cells as a markdown table.
func table(head []string, rows ...[]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for i := range head {
		if i == 0 {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }

// mapLine renders "k v, k v" sorted by key.
func mapLine(m map[string]float64) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func mapLineI(m map[string]int64) string {
	f := map[string]float64{}
	for k, v := range m {
		f[k] = float64(v)
	}
	return mapLine(f)
}

func sumI(m map[string]int64, keep func(string) bool) int64 {
	var t int64
	for k, v := range m {
		if keep == nil || keep(k) {
			t += v
		}
	}
	return t
}

func isFault(name string) bool { return faults[name] }

// scenario1: 1,000 VMs idle: time for all sessions to connect, then the
// agent's RSS and CPU.
func (b *bench) scenario1(ctx context.Context) error {
	n := b.p.VMs
	t0 := time.Now()
	if err := b.st.StartAgent(); err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond)
	b.trackAgent()
	var tHand, tAPI time.Duration
	ok := waitFor(ctx, b.p.ConnectTimeout, func() bool {
		_, last, conn := b.lg.handshakeState()
		if tHand == 0 && conn >= n {
			tHand = last.Sub(t0)
		}
		if c, _ := b.tr.connectedVMs(nil); tAPI == 0 && c >= n {
			tAPI = time.Since(t0)
		}
		return tHand > 0 && tAPI > 0
	})
	if !ok {
		_, _, conn := b.lg.handshakeState()
		c, _ := b.tr.connectedVMs(nil)
		return fmt.Errorf("after %s only %d sessions handshook and %d VMs show Connected (agent log: %s)", b.p.ConnectTimeout, conn, c, b.st.LogFile("agent"))
	}
	logf("all %d sessions connected: handshakes %s, API %s", n, ms(tHand), ms(tAPI))
	// Let the connection writes (status, controller conditions) finish.
	settle := b.p.Idle / 3
	sleepCtx(ctx, settle)
	a := b.snap(ctx)
	sleepCtx(ctx, b.p.Idle)
	c := b.snap(ctx)
	cpu := cpuPercent(a.proc, c.proc)
	rss := c.proc.RSSKiB
	writes := sumMap(agentWrites(a, c), nil)
	reqs := apiRequests(a, c)
	body := fmt.Sprintf("%d fake QEMUs, one VirtualMachine each, all on the agent's node; the agent starts after they exist. "+
		"Then nothing happens for %s (after %s of settling), and the agent's CPU and memory are read from /proc.\n\n", n, b.p.Idle, settle)
	body += table([]string{"measure", "value"},
		[]string{"agent start to every QMP session past `qmp_capabilities` (load generator's clock)", ms(tHand)},
		[]string{fmt.Sprintf("agent start to all %d VirtualMachines showing `monitor.state: Connected` (bench's watch)", n), ms(tAPI)},
		[]string{"agent RSS (VmRSS) after the idle window", mib(rss)},
		[]string{"agent peak RSS (VmHWM) since start, connection storm included", mib(c.proc.HWMKiB)},
		[]string{"agent RSS split: its own memory (RssAnon) / mapped files, the binary mostly (RssFile)", mib(c.proc.AnonKiB) + " / " + mib(c.proc.FileKiB)},
		[]string{fmt.Sprintf("agent CPU over the %s idle window (share of one core)", b.p.Idle), fmt.Sprintf("%.2f %%", cpu)},
		[]string{"agent goroutines (`go_goroutines`)", f0(c.agent.sum("go_goroutines", nil))},
		// Where the RSS goes: the Go heap in use (live data and what the
		// collector has not returned yet), goroutine stacks, and what the
		// runtime holds from the OS beyond those.
		[]string{"agent heap in use / heap live (`go_memstats_heap_inuse_bytes` / `_heap_alloc_bytes`)",
			mib(int64(c.agent.sum("go_memstats_heap_inuse_bytes", nil)/1024)) + " / " + mib(int64(c.agent.sum("go_memstats_heap_alloc_bytes", nil)/1024))},
		[]string{"agent goroutine stacks (`go_memstats_stack_inuse_bytes`)", mib(int64(c.agent.sum("go_memstats_stack_inuse_bytes", nil) / 1024))},
		[]string{"agent memory from the OS (`go_memstats_sys_bytes`)", mib(int64(c.agent.sum("go_memstats_sys_bytes", nil) / 1024))},
		[]string{"agent API writes during the idle window", f0(writes)},
		[]string{"all API requests during the idle window (watches excluded)", mapLine(reqs)},
	)
	b.rep.section("1", fmt.Sprintf("%d VMs on one node, idle", n), body)
	if tAPI > 5*time.Second {
		b.rep.finding("1", fmt.Sprintf("the QMP sessions were all up %s after the agent started, but the last VM showed `monitor.state: Connected` only after %s: "+
			"each VM's first status write is one of %d writes that the agent's client sends at most %s", ms(tHand), ms(tAPI), n, clientLimit()))
	}
	b.rep.goal("1", fmt.Sprintf("agent RSS <= 100 MiB with %d idle sessions", n), mib(rss), rss <= 100*1024)
	b.rep.goal("1", fmt.Sprintf("agent CPU < 2 %% of a core with %d idle sessions", n), fmt.Sprintf("%.2f %%", cpu), cpu < 2)
	return nil
}

// runLoad runs the normal mix at the scenario-2 rate for d, with during
// called after the given offset (nil: nothing), then stops the load.
func (b *bench) runLoad(ctx context.Context, d time.Duration) { b.runLoadAt(ctx, b.p.Rate, d) }

// runLoadAt runs the normal mix at rate events/s for d.
func (b *bench) runLoadAt(ctx context.Context, rate float64, d time.Duration) {
	b.lg.send("rate %g", rate)
	sleepCtx(ctx, d)
	b.lg.send("rate 0")
}

func written(a, c snapshot, keep func(string) bool) int64 {
	var t int64
	for k, v := range c.lg.Written {
		if keep == nil || keep(k) {
			t += v - a.lg.Written[k]
		}
	}
	return t
}

// apiserverCPU is the kube-apiserver's own CPU between two snapshots
// (its process_cpu_seconds_total), in cores, and per write request.
func apiserverCPU(a, c snapshot, writes float64) string {
	secs := c.api.sum("process_cpu_seconds_total", nil) - a.api.sum("process_cpu_seconds_total", nil)
	window := c.at.Sub(a.at).Seconds()
	if secs <= 0 || window <= 0 || writes <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f; %.1f ms", secs/window, 1000*secs/writes)
}

// scenario2: 200 events/s over all VMs: latency to the Event and to the
// status, API requests per event.
func (b *bench) scenario2(ctx context.Context) error {
	b.tr.newPhase()
	a := b.snap(ctx)
	stopProbes := b.probing(ctx)
	b.runLoad(ctx, b.p.Run)
	stopProbes()
	end, _ := readProc(b.agentS.pidNow())
	evMiss, stMiss := b.drain(ctx)
	b.waitProbes(ctx)
	c := b.snap(ctx)
	res := b.tr.result()
	lat := latencyOf(res.events, nil)
	cond := probeLatency(res.probes, nil, faultTime)
	logSlowProbes(res.probes, res.events, time.Second)
	sent := float64(len(res.events))
	reqs := apiRequests(a, c)
	aw := agentWrites(a, c)
	if sent > 0 {
		b.mix = mixDemand{rate: b.p.Rate, appliesPerEvent: reqs["APPLY virtualmachines/status"] / sent,
			cores: (c.api.sum("process_cpu_seconds_total", nil) - a.api.sum("process_cpu_seconds_total", nil)) / c.at.Sub(a.at).Seconds()}
	}
	allReq := sumMap(reqs, nil)
	writeReq := sumMap(reqs, isWrite)
	per := func(v float64) string {
		if sent == 0 {
			return "-"
		}
		return f2(v / sent)
	}
	body := fmt.Sprintf("The load generator emits %g events/s in total for %s, each to a VM chosen at random (mix: 50 %% RTC_CHANGE, 20 %% RESET, "+
		"20 %% BLOCK_IO_ERROR, 10 %% WATCHDOG; the last two are faults, published as Warning). Latency runs from the event's QEMU timestamp to the moment "+
		"the bench's watch sees an Event (or a series count) covering it, and to the moment it sees the VM's `status.eventCounts` include it. "+
		"Besides the mix, every %s the bench makes one VM's guest hit a fault that pauses it (rotating: GUEST_PANICKED and WATCHDOG with action pause, "+
		"BLOCK_IO_ERROR with action stop; each followed by STOP, and query-status answering QEMU's run state), on a VM whose condition is not True, "+
		"and times the fault's QEMU timestamp to the moment its watch sees the condition True with a `lastTransitionTime` not before the fault's second. "+
		"API requests are the kube-apiserver's own `apiserver_request_total` from the start of the load until the last event showed (controller and bench included, watches excluded).\n\n",
		b.p.Rate, b.p.Run, probeInterval)
	rows := [][]string{
		{"events written to the agent", fmt.Sprintf("%.0f (%s)", sent, mapLineI(res.sent))},
		{"QEMU timestamp to Event readable, p50 / p99 / max", lat.ev.String()},
		{"... fault events only", lat.evFault.String()},
		{fmt.Sprintf("... of those, the first of their kind on their VM for %s (a repeat within it only moves its series' count, and waits with the Normal Events)", model.RepeatWindow),
			fmt.Sprintf("%s (%d of %d)", lat.evFaultFirst, len(lat.evFaultFirst), len(lat.evFault))},
	}
	rows = append(rows, cond.rows("QEMU timestamp of a fault")...)
	body += table([]string{"measure", "value"}, append(rows,
		[]string{"QEMU timestamp to VM status showing it, p50 / p99 / max", lat.st.String()},
		[]string{"events never seen as an Event / in status (drain ended)", fmt.Sprintf("%d / %d", evMiss, stMiss)},
		[]string{"API requests per event, all (watches excluded)", per(allReq)},
		[]string{"API writes per event, all clients", per(writeReq)},
		[]string{"agent API writes per event", per(sumMap(aw, nil))},
		[]string{"agent writes by kind and result", mapLine(aw)},
		[]string{"apiserver requests by verb and resource", mapLine(reqs)},
		[]string{"where a write's time went, means", writeWaits(a, c)},
		[]string{"kube-apiserver CPU from the start of the load until the last event showed: cores; per write (all its CPU over all writes)", apiserverCPU(a, c, writeReq)},
		[]string{"agent CPU during the load (share of one core)", fmt.Sprintf("%.1f %%", cpuPercent(a.proc, end))},
		[]string{"agent journal (write-ahead spool)", journalCost(a, c)},
		[]string{"agent RSS at the end", mib(c.proc.RSSKiB)},
	)...)
	b.clearProbes(ctx)
	body += "\nThe same mix at lower rates, to tell the machine's limit from the agent's:\n\n"
	body += table([]string{"measure", "value"}, b.sustained(ctx)...)
	body += "\nThe agent's write-ahead journal: its CPU cost at this rate.\n\n"
	body += table([]string{"measure", "value"}, b.journalCPU(ctx, b.p.Run/2)...)
	b.rep.section("2", fmt.Sprintf("%d VMs, %g events/s in total", b.p.VMs, b.p.Rate), body)
	b.chart("2", fmt.Sprintf("Scenario 2: latency at %g events/s over %d VMs", b.p.Rate, b.p.VMs),
		series{"to Event readable", lat.ev}, series{"to status", lat.st}, series{"pausing fault to condition True", cond.all})
	p99 := lat.ev.quantile(0.99)
	window := c.at.Sub(a.at).Seconds()
	agentW := sumMap(aw, nil)
	if p99 > 250*time.Millisecond && sent > 0 {
		var lastLat time.Duration
		var lastTS time.Time
		for _, e := range res.events {
			if e.ts.After(lastTS) && !e.evSeen.IsZero() {
				lastTS, lastLat = e.ts, e.evSeen.Sub(e.ts)
			}
		}
		b.rep.finding("2", fmt.Sprintf("p99 event-to-Event latency %s (max %s; the last event of the load took %s): the agent made %.0f API writes in the %.0f s from the start of the load "+
			"to the last event showing (%.1f/s, %.2f per event; its client's limit is %s), and the apiserver answered %.0f writes/s from all clients (its CPU, cores; per write: %s). "+
			"%g events/s spread over %d VMs rarely fold into a series, so each costs an Event write, and a fault a status write and a controller condition write besides: "+
			"when the apiserver answers fewer writes than that, they queue and the latency grows for as long as the load lasts (the reduced-rate rows above show what this machine sustains). "+
			"By design the routine writes (Normal Events, counters) queue in the agent, not at the apiserver: they get only the places in flight that keep its answers quick "+
			"(`vmevents_agent_routine_write_places`), and the controller's transition Events likewise (`vmevents_controller_transition_event_places`), "+
			"so that faults' Events and the facts conditions are made of, and the controller's condition writes, find it answering",
			ms(p99), ms(lat.ev.quantile(1)), ms(lastLat), agentW, window, agentW/window, agentW/sent, clientLimit(), writeReq/window, apiserverCPU(a, c, writeReq), b.p.Rate, b.p.VMs))
	}
	b.rep.goal("2", "p99 QEMU timestamp to Event readable <= 250 ms", ms(p99), p99 <= 250*time.Millisecond && lat.evUnseen == 0)
	b.rep.goal("2", fmt.Sprintf("p99 QEMU timestamp of a fault to its condition True <= 1 s (%g events/s, %d VMs)", b.p.Rate, b.p.VMs), cond.goal(), cond.goalMet(time.Second))
	return nil
}

// sustained runs the normal mix at lower rates and reports the latency at
// each: it tells the rate this machine's apiserver keeps up with from the
// agent's own latency.
func (b *bench) sustained(ctx context.Context) [][]string {
	var rows [][]string
	for _, div := range []float64{2, 4} {
		rate := b.p.Rate / div
		b.tr.newPhase()
		a := b.snap(ctx)
		b.runLoadAt(ctx, rate, b.p.Run/2)
		evMiss, stMiss := b.drain(ctx)
		c := b.snap(ctx)
		lat := latencyOf(b.tr.result().events, nil)
		writes := sumMap(apiRequests(a, c), isWrite) / c.at.Sub(a.at).Seconds()
		rows = append(rows, []string{fmt.Sprintf("at %g events/s for %s: to Event / to status, p50 / p99 / max; apiserver writes/s; never seen", rate, b.p.Run/2),
			fmt.Sprintf("%s; %s; %.0f/s; %d / %d", lat.ev.String(), lat.st.String(), writes, evMiss, stMiss)})
	}
	return rows
}

// stormWritesGoal is scenario 3's most API writes per second for the
// storming VM.
const stormWritesGoal = 2.0

// scenario3: VM 0 storms BLOCK_IO_ERROR while the others emit normally.
func (b *bench) scenario3(ctx context.Context) error {
	const stormVM = 0
	const name = "BLOCK_IO_ERROR"
	b.tr.newPhase(stormVM)
	a := b.snap(ctx)
	b.tr.countStorm(stormVM)
	start := time.Now()
	stopRates := sampleEvery(ctx, time.Second, b.stormCounters)
	b.lg.send("storm %d %g %g", stormVM, b.p.StormRate, b.p.Storm.Seconds())
	b.lg.send("rate %g", b.p.Rate)
	stopProbes := b.probing(ctx)
	mid := b.snapProcAfter(ctx, b.p.Storm/2)
	var stormWritten int64
	select {
	case r := <-b.lg.stormDone:
		stormWritten = r[1]
	case <-time.After(b.p.Storm + 2*time.Minute):
		stopProbes()
		return fmt.Errorf("the storm did not end")
	}
	stopProbes()
	stormDur := time.Since(start)
	end, _ := readProc(b.agentS.pidNow())
	b.lg.send("rate 0")
	vmW, evW := b.tr.stormWrites(false) // and go on counting through the catch-up
	b.drain(ctx)
	// Wait for the storm VM's counts to be exact, or to stop moving.
	var evGain, stGain int64
	lastMove, lastSum := time.Now(), int64(-1)
	waitFor(ctx, b.p.Drain, func() bool {
		evGain, stGain = b.tr.gained(stormVM, name)
		if evGain+stGain != lastSum {
			lastSum, lastMove = evGain+stGain, time.Now()
		}
		return (evGain == stormWritten && stGain == stormWritten) || time.Since(lastMove) > b.p.Stall
	})
	exactAfter := time.Since(start)
	rateSamples := stopRates()
	vmW2, evW2 := b.tr.stormWrites(true)
	b.waitProbes(ctx)
	c := b.snap(ctx)
	res := b.tr.result()
	b.clearProbes(ctx)
	lat := latencyOf(res.events, nil)
	cond := probeLatency(res.probes, nil, faultTime)
	recv := c.agent.sum("vmevents_agent_events_received_total", func(l map[string]string) bool { return l["event"] == name }) -
		a.agent.sum("vmevents_agent_events_received_total", func(l map[string]string) bool { return l["event"] == name })
	shed := groupDelta(a.agent, c.agent, "vmevents_agent_events_shed_total", func(l map[string]string) string { return l["reason"] })
	coalesced := c.agent.sum("vmevents_agent_events_coalesced_total", nil) - a.agent.sum("vmevents_agent_events_coalesced_total", nil)
	stormWritesPerS := float64(vmW+evW) / stormDur.Seconds()
	aw := agentWrites(a, c)
	faultLost := sumI(res.evMissing, isFault)
	body := fmt.Sprintf("VM %s emits BLOCK_IO_ERROR (one disk, `werror=report`: the same series) at %g/s for %s while the load generator sends "+
		"the scenario-2 mix at %g events/s to the other VMs. API writes for the storming VM are the changes the bench's watches see on its "+
		"VirtualMachine and on its Events (resourceVersion changes: a write that changes nothing is not seen, so this is a lower bound).\n\n",
		"vm-0000", b.p.StormRate, b.p.Storm, b.p.Rate)
	body += table([]string{"measure", "value"},
		[]string{"storm events written to the agent's socket", fmt.Sprint(stormWritten)},
		[]string{"... received by the agent (`events_received_total`, all VMs' BLOCK_IO_ERROR)", f0(recv)},
		[]string{"... in the storming VM's Event series count / `status.eventCounts` (gain)", fmt.Sprintf("%d / %d", evGain, stGain)},
		[]string{"counters exact", fmt.Sprint(evGain == stormWritten && stGain == stormWritten)},
		[]string{"time from storm start until both counters showed their last value", ms(exactAfter)},
		[]string{"API writes seen for the storming VM during the storm: VM / Event", fmt.Sprintf("%d / %d", vmW, evW)},
		[]string{"... per second", f2(stormWritesPerS)},
		[]string{"... including the catch-up after the storm: VM / Event", fmt.Sprintf("%d / %d", vmW2, evW2)},
		[]string{"agent CPU during the storm, first half / whole (share of one core)", fmt.Sprintf("%.1f %% / %.1f %%", cpuPercent(a.proc, mid), cpuPercent(a.proc, end))},
		[]string{"agent journal (write-ahead spool), storm to the end of the catch-up", journalCost(a, c)},
		[]string{"agent peak RSS (VmHWM)", mib(c.proc.HWMKiB)},
		[]string{"events shed by the agent's QMP queue (by reason)", mapLine(shed)},
		[]string{"occurrences coalesced into existing series (all VMs)", f0(coalesced)},
		[]string{"other VMs: events written", fmt.Sprintf("%d (%s)", len(res.events), mapLineI(res.sent))},
		[]string{"other VMs: fault events, QEMU timestamp to Event readable, p50 / p99 / max", lat.evFault.String()},
		cond.rows("other VMs: QEMU timestamp of a fault")[0],
		[]string{"other VMs: all events to Event readable / to status", lat.ev.String() + "; " + lat.st.String()},
		[]string{"other VMs: fault events lost (Event series counts short of what was sent)", fmt.Sprint(faultLost)},
		[]string{"agent writes by kind and result", mapLine(aw)},
	)
	b.rep.section("3", fmt.Sprintf("one VM storming %g events/s for %s", b.p.StormRate, b.p.Storm), body)
	b.chart("3", fmt.Sprintf("Scenario 3: latency of the other VMs during a %g events/s storm", b.p.StormRate),
		series{"to Event readable", lat.ev}, series{"to status", lat.st}, series{"pausing fault to condition True", cond.all})
	b.stormChart(fmt.Sprintf("Scenario 3: writes per second during a %g events/s storm", b.p.StormRate), rateSamples, start, stormDur)
	if stormWritesPerS > stormWritesGoal {
		b.rep.finding("3", fmt.Sprintf("the storming VM got %.2f API writes/s (%d status, %d Event in %s), above the goal of 2: a status write every %s (`--status-interval`) plus an Event series write every %s (`EventInterval`)",
			stormWritesPerS, vmW, evW, ms(stormDur), qmpagent.DefaultStatusInterval, qmpagent.EventInterval))
	}
	if sumMap(shed, nil) > 0 {
		b.rep.finding("3", fmt.Sprintf("the agent's QMP queue shed %s events during the storm (all counted: the counters above include them)", mapLine(shed)))
	}
	if faultLost > 0 || lat.evUnseen > 0 {
		b.rep.finding("3", fmt.Sprintf("%d fault events of the other VMs are missing from their Event series counts; %d events were never seen as Events", faultLost, lat.evUnseen))
	}
	b.rep.goal("3", fmt.Sprintf("<= %g API writes/s for the storming VM", stormWritesGoal), f2(stormWritesPerS)+"/s", stormWritesPerS <= stormWritesGoal)
	b.rep.goal("3", "storming VM's counters exact", fmt.Sprintf("sent %d, Event %d, status %d", stormWritten, evGain, stGain), evGain == stormWritten && stGain == stormWritten)
	b.rep.goal("3", "zero lost fault events (other VMs)", fmt.Sprint(faultLost), faultLost == 0)
	b.rep.goal("3", "p99 QEMU timestamp of a fault to its condition True <= 2 s during the storm (other VMs)", cond.goal(), cond.goalMet(2*time.Second))
	return nil
}

// scenario6: 10,000 VirtualMachines in the cluster; the controller
// reconciles them, then restarts.
func (b *bench) scenario6(ctx context.Context) error {
	total := b.p.ClusterVMs
	b.st.StopAgent()
	b.agentS.setPid(0)
	b.revive("6", false) // the agent was stopped on purpose
	state := func() (reconciled, depth, leader float64) {
		m, err := scrapeHTTP(b.ctrlM)
		if err != nil {
			return 0, -1, 0
		}
		return m.sum("controller_runtime_reconcile_total", nil), m.sum("workqueue_depth", nil), m.sum("leader_election_master_status", nil)
	}
	apiSnap := func() metrics {
		m, err := scrapeAPIServer(ctx, b.kc)
		if err != nil {
			return metrics{}
		}
		return m
	}
	reqs := func(a, c metrics) map[string]float64 {
		return apiRequests(snapshot{api: a}, snapshot{api: c})
	}

	// Initial: the controller runs while the VMs are created.
	logf("creating %d more VirtualMachines with the controller running", total-b.p.VMs)
	api0 := apiSnap()
	b.ctrlS.resetPeak()
	pid := b.ctrlS.pidNow()
	p0, _ := readProc(pid)
	t0 := time.Now()
	createTook, err := b.createVMs(ctx, b.p.VMs, total, "bench-elsewhere")
	if err != nil {
		return fmt.Errorf("creating VirtualMachines: %w", err)
	}
	initialDone := waitFor(ctx, b.p.Reconcile, func() bool {
		_, d, _ := state()
		return b.tr.conditionedCount() >= total && d == 0
	})
	initialTook := time.Since(t0)
	initialConditioned := b.tr.conditionedCount()
	p1, _ := readProc(pid)
	initialPeak := b.ctrlS.resetPeak()
	api1 := apiSnap()
	initialReqs := reqs(api0, api1)

	// Restart.
	logf("restarting the controller")
	b.st.StopController()
	b.ctrlS.setPid(0)
	t1 := time.Now()
	if err := b.st.StartController(); err != nil {
		return err
	}
	time.Sleep(100 * time.Millisecond)
	b.trackController()
	pid = b.ctrlS.pidNow()
	var leader time.Duration
	var lastR float64
	restartDone := waitFor(ctx, b.p.Reconcile, func() bool {
		r, d, l := state()
		lastR = r
		if leader == 0 && l >= 1 {
			leader = time.Since(t1)
		}
		return r >= float64(total) && d == 0
	})
	restartTook := time.Since(t1)
	p2, _ := readProc(pid)
	p2start := procSample{At: t1}
	restartPeak := b.ctrlS.peak()
	api2 := apiSnap()
	restartReqs := reqs(api1, api2)

	done := func(ok bool, took time.Duration, n float64) string {
		if ok {
			return ms(took)
		}
		rate := n / took.Seconds()
		return fmt.Sprintf("not done after %s: %.0f of %d (%.0f/s; all %d would take about %s)", ms(took), n, total, rate, total, ms(time.Duration(float64(total)/max(rate, 0.001)*float64(time.Second))))
	}
	body := fmt.Sprintf("%d VirtualMachines in the cluster: the %d of the scenarios above (agent stopped) and %d more on a node without an agent, "+
		"created by the bench with 8 parallel writers (%s, %.0f/s) while the controller runs. **Initial**: from the first create until every VM "+
		"has conditions and the controller's work queue is empty. **Restart**: the controller is stopped (SIGTERM, it releases its lease) and started "+
		"again; done when its `controller_runtime_reconcile_total` reached %d and its work queue is empty. Memory from /proc (peak sampled every second, and VmHWM).\n\n",
		total, b.p.VMs, total-b.p.VMs, ms(createTook), float64(total-b.p.VMs)/createTook.Seconds(), total)
	perVM := func(m map[string]float64) string { return f2(sumMap(m, nil) / float64(total)) }
	body += table([]string{"measure", "initial", "restart"},
		[]string{"time to all reconciled", done(initialDone, initialTook, float64(initialConditioned)), done(restartDone, restartTook, lastR)},
		[]string{"time to leader", "-", ms(leader)},
		[]string{"controller peak RSS (sampled) / VmHWM", mib(initialPeak) + " / " + mib(p1.HWMKiB), mib(restartPeak) + " / " + mib(p2.HWMKiB)},
		[]string{"controller RSS at the end", mib(p1.RSSKiB), mib(p2.RSSKiB)},
		[]string{"controller CPU (share of one core)", fmt.Sprintf("%.0f %%", cpuPercent(p0, p1)), fmt.Sprintf("%.0f %%", cpuPercent(p2start, p2))},
		[]string{"API requests per VM (all clients, watches excluded)", perVM(initialReqs), perVM(restartReqs)},
		[]string{"API requests by verb and resource", mapLine(initialReqs), mapLine(restartReqs)},
	)
	b.rep.section("6", fmt.Sprintf("%d VirtualMachines, controller restart", total), body)
	if initialDone {
		b.rep.finding("6", fmt.Sprintf("the controller reconciled %d new VirtualMachines in %s with %s API requests per VM; a restart took %s (%s requests per VM)",
			total-b.p.VMs, ms(initialTook), perVM(initialReqs), ms(restartTook), perVM(restartReqs)))
	}
	if !restartDone {
		b.rep.finding("6", fmt.Sprintf("a controller restart with %d VirtualMachines did not finish reconciling within %s", total, b.p.Reconcile))
	}
	return nil
}
