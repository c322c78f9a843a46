package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// probeKinds are the load generator's pausing faults (its `fault` command),
// the QMP event each sends and the condition it drives, in the order the
// bench rotates through them.
var probeKinds = []struct{ kind, event, action, cond string }{
	{"panic", "GUEST_PANICKED", "pause", vmv1.ConditionGuestPanicked},
	{"watchdog", "WATCHDOG", "pause", vmv1.ConditionWatchdogExpired},
	{"ioerror", "BLOCK_IO_ERROR", "stop", vmv1.ConditionIOError},
}

// condOf is the condition a probe's fault event drives.
func condOf(event string) string {
	for _, k := range probeKinds {
		if k.event == event {
			return k.cond
		}
	}
	return ""
}

// probeInterval is how often the bench injects a pausing fault during a
// measured load. Each costs the apiserver about six writes (a status, a
// condition, their Events): one a second adds a few percent to the
// scenario-2 load; four a second added a tenth, enough to move the
// latencies measured.
const probeInterval = time.Second

// condState is what the bench's watch last saw of one condition.
type condState struct {
	true bool
	ltt  time.Time
}

// probe is one pausing fault the load generator sent, and when the bench
// saw its condition flip to True. A probe is spoiled when the condition
// showed True with a transition before the fault's second: it was already
// True for an earlier fault (of the normal mix), so no flip can be timed.
type probe struct {
	vm    int
	event string
	ts    time.Time
	// factSeen is when the watch first saw the fault itself in the VM's
	// status (lastPanic, lastWatchdog, blockErrors): the agent's part.
	factSeen time.Time
	seen     time.Time
	spoiled  bool
}

// onFacts notes, for VM i's pending probes, when its status first shows
// the fault; the caller holds t.mu.
func (t *tracker) onFacts(i int, st *vmv1.VirtualMachineStatus, now time.Time) {
	for _, k := range probeKinds {
		p := t.pendProbe[tkey{i, k.event}]
		if p == nil || !p.factSeen.IsZero() {
			continue
		}
		// QEMU's timestamps have microseconds; the status keeps them.
		shows := func(at metav1.MicroTime) bool { return !at.Time.Before(p.ts.Truncate(time.Microsecond)) }
		seen := false
		switch k.event {
		case "GUEST_PANICKED":
			seen = st.LastPanic != nil && shows(st.LastPanic.Time)
		case "WATCHDOG":
			seen = st.LastWatchdog != nil && shows(st.LastWatchdog.Time)
		case "BLOCK_IO_ERROR":
			for _, b := range st.BlockErrors {
				seen = seen || (b.LastTime != nil && shows(*b.LastTime))
			}
		}
		if seen {
			p.factSeen = now
		}
	}
}

// onConditions records the fault conditions of VM i; the caller holds t.mu.
func (t *tracker) onConditions(i int, conds []metav1.Condition, now time.Time) {
	m := t.conds[i]
	if m == nil {
		m = map[string]condState{}
		t.conds[i] = m
	}
	for _, c := range conds {
		if isProbeCond(c.Type) {
			m[c.Type] = condState{true: c.Status == metav1.ConditionTrue, ltt: c.LastTransitionTime.Time}
		}
	}
	for _, k := range probeKinds {
		t.checkProbe(tkey{i, k.event}, now)
	}
}

func isProbeCond(cond string) bool {
	for _, k := range probeKinds {
		if k.cond == cond {
			return true
		}
	}
	return false
}

// checkProbe resolves the pending probe of k if its condition is True.
func (t *tracker) checkProbe(k tkey, now time.Time) {
	p := t.pendProbe[k]
	if p == nil {
		return
	}
	st := t.conds[k.vm][condOf(k.name)]
	if !st.true {
		return
	}
	if st.ltt.Before(p.ts.Truncate(time.Second)) {
		p.spoiled = true
	} else {
		p.seen = now
	}
	delete(t.pendProbe, k)
}

// reserve picks a VM of n for a probe of event: the next one, from the cursor
// on, not excluded, not already probed and whose condition is not True.
func (t *tracker) reserve(n int, event string) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cond := condOf(event)
	for range n {
		vm := t.probeCursor % n
		t.probeCursor++
		if t.exclude[vm] || t.probed[vm] || t.conds[vm][cond].true {
			continue
		}
		t.probed[vm] = true
		return vm, true
	}
	return 0, false
}

// faulted records a probe's fault event written to the agent.
func (t *tracker) faulted(vm int, event string, ts, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := &probe{vm: vm, event: event, ts: ts}
	t.probes = append(t.probes, p)
	k := tkey{vm, event}
	t.pendProbe[k] = p
	t.checkProbe(k, now)
}

// unreserve forgets the probed VMs and returns them (to be cleared).
func (t *tracker) unreserve() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var vms []int
	for vm := range t.probed {
		vms = append(vms, vm)
	}
	sort.Ints(vms)
	t.probed = map[int]bool{}
	return vms
}

func (t *tracker) phaseLen() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.phase)
}

func (t *tracker) pendingProbes() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pendProbe)
}

// probeFaults injects a pausing fault every probeInterval, rotating the
// kinds, until stop is closed; it returns how many ticks found no VM.
func (b *bench) probeFaults(ctx context.Context, stop <-chan struct{}) (skipped int) {
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-tick.C:
		}
		k := probeKinds[i%len(probeKinds)]
		vm, ok := b.tr.reserve(b.p.VMs, k.event)
		if !ok {
			skipped++
			continue
		}
		b.lg.send("fault %d %s", vm, k.kind)
	}
}

// probing runs probeFaults in the background; the returned func stops it.
func (b *bench) probing(ctx context.Context) func() {
	stop := make(chan struct{})
	go b.probeFaults(ctx, stop)
	return func() { close(stop) }
}

// waitProbes waits until every probe's condition showed, or nothing moved
// for p.Stall.
func (b *bench) waitProbes(ctx context.Context) {
	waitFor(ctx, b.p.Stall, func() bool { return b.tr.pendingProbes() == 0 })
}

// clearProbes resets and resumes the probed VMs, so that their conditions
// clear before the next scenario, and waits until those events showed (in
// the current phase, after its result was taken: the next phase starts
// from the counts they leave).
func (b *bench) clearProbes(ctx context.Context) {
	vms := b.tr.unreserve()
	n0 := b.tr.phaseLen()
	for _, vm := range vms {
		b.lg.send("clear %d", vm)
	}
	waitFor(ctx, b.p.Stall, func() bool { return b.tr.phaseLen() >= n0+2*len(vms) })
	b.drain(ctx)
}

// probeStats are a phase's probes: fault to condition True, all and by
// condition, and how many never flipped or could not be timed.
type probeStats struct {
	all    latencies
	byCond map[string]latencies
	// facts and control split all, where the fault was seen in status:
	// the agent's part and the controller's.
	facts, control latencies
	unseen, spoilt int
}

func probeLatency(ps []*probe, keep func(*probe) bool, from func(*probe) time.Time) probeStats {
	s := probeStats{byCond: map[string]latencies{}}
	for _, p := range ps {
		if !p.spoiled && !p.seen.IsZero() && !p.factSeen.IsZero() {
			s.facts = append(s.facts, p.factSeen.Sub(from(p)))
			s.control = append(s.control, p.seen.Sub(p.factSeen))
		}
		if keep != nil && !keep(p) {
			continue
		}
		switch {
		case p.spoiled:
			s.spoilt++
		case p.seen.IsZero():
			s.unseen++
		default:
			d := p.seen.Sub(from(p))
			s.all = append(s.all, d)
			c := condOf(p.event)
			s.byCond[c] = append(s.byCond[c], d)
		}
	}
	return s
}

func faultTime(p *probe) time.Time { return p.ts }

// rows are the report's lines for the probes, label naming the start.
func (s probeStats) rows(label string) [][]string {
	out := [][]string{{fmt.Sprintf("%s to its condition True (watch on VirtualMachines), pausing faults, p50 / p99 / max", label),
		fmt.Sprintf("%s (%d timed, %d never True, %d already True)", s.all, len(s.all), s.unseen, s.spoilt)}}
	for _, k := range probeKinds {
		out = append(out, []string{fmt.Sprintf("... %s (action %s) to `%s`", k.event, k.action, k.cond), s.byCond[k.cond].String()})
	}
	return append(out,
		[]string{"... the agent's part: to the fault in the VM's status (`lastPanic`, `lastWatchdog`, `blockErrors`)", s.facts.String()},
		[]string{"... the controller's part: from there to the condition True", s.control.String()})
}

// goalMet: every probe flipped and the p99 is within limit.
func (s probeStats) goalMet(limit time.Duration) bool {
	return len(s.all) > 0 && s.unseen == 0 && s.all.quantile(0.99) <= limit
}

// goal is the measured value of a condition goal.
func (s probeStats) goal() string {
	if len(s.all) == 0 {
		return fmt.Sprintf("no fault timed (%d never True, %d already True)", s.unseen, s.spoilt)
	}
	out := fmt.Sprintf("p99 %s of %d", ms(s.all.quantile(0.99)), len(s.all))
	if s.unseen > 0 {
		out += fmt.Sprintf(", %d never True", s.unseen)
	}
	return out
}

// timeToLeader follows the controller's metrics in the background from
// since until it leads (or p.Drain passed); the returned func tells the
// time it took so far.
func (b *bench) timeToLeader(ctx context.Context, since time.Time) func() string {
	var mu sync.Mutex
	var took time.Duration
	go waitFor(ctx, b.p.Drain, func() bool {
		m, err := scrapeHTTP(b.ctrlM)
		if err != nil || m.sum("leader_election_master_status", nil) < 1 {
			return false
		}
		mu.Lock()
		took = time.Since(since)
		mu.Unlock()
		return true
	})
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		if took == 0 {
			return "not leading yet"
		}
		return ms(took)
	}
}

// logSlowProbes logs, to the bench's log only, each probe whose condition
// took over limit: its fault's own Event, its fact in status and the
// condition, each from the fault's QEMU timestamp, to tell which part was
// slow.
func logSlowProbes(ps []*probe, events []*sentEv, limit time.Duration) {
	// A probe's fault is one of the events sent: the same VM, name and
	// QEMU timestamp.
	type sentKey struct {
		vm   int
		name string
		ts   int64
	}
	evSeen := map[sentKey]time.Time{}
	for _, e := range events {
		evSeen[sentKey{e.vm, e.name, e.ts.UnixMicro()}] = e.evSeen
	}
	since := func(t, from time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return ms(t.Sub(from))
	}
	for _, p := range ps {
		if p.spoiled || (!p.seen.IsZero() && p.seen.Sub(p.ts) <= limit) {
			continue
		}
		logf("slow probe: vm-%04d %s at %s: its Event %s, its fact in status %s, the condition %s", p.vm, p.event,
			p.ts.Format("15:04:05.000000"), since(evSeen[sentKey{p.vm, p.event, p.ts.UnixMicro()}], p.ts), since(p.factSeen, p.ts), since(p.seen, p.ts))
	}
}
