package main

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent"
	"github.com/vmevents/vmevents/qmpagent/model"
)

// faults are the QMP events of the load generator's mix the agent publishes
// as Warning Events.
var faults = map[string]bool{"BLOCK_IO_ERROR": true, "WATCHDOG": true, "GUEST_PANICKED": true}

// mixNames are the QMP events the load generator can send.
// (STOP and RESUME: with the pausing faults and their clearing).
var mixNames = []string{"RTC_CHANGE", "RESET", "BLOCK_IO_ERROR", "WATCHDOG", "GUEST_PANICKED", "VNC_CONNECTED", "POWERDOWN", "STOP", "RESUME"}

// tkey is one kind of event of one VM.
type tkey struct {
	vm   int
	name string
}

// sentEv is one event the load generator wrote to the agent, and when the
// bench saw it in the API: as a Kubernetes Event (its series count and last
// observed time covering it) and in the VM's status (eventCounts).
type sentEv struct {
	vm   int
	name string
	ts   time.Time // QEMU's timestamp
	k    int64     // its rank among its VM's events of this name in this phase
	// repeat: the VM's previous event of this name was sent less than
	// model.RepeatWindow before (the agent writes a fault's repeat with the
	// Normal Events).
	repeat bool
	evSeen time.Time
	stSeen time.Time
}

// tracker matches what the load generator sent with what the apiserver
// shows, from watches of Events and VirtualMachines.
type tracker struct {
	mu           sync.Mutex
	reasonToName map[string]string

	evCounts map[tkey]map[string]int64 // by Event name
	evTotal  map[tkey]int64
	evMaxL   map[tkey]time.Time
	stCounts map[tkey]int64

	vmConnected map[int]bool
	vmResyncs   map[int]int64
	conditioned map[string]bool

	// the current phase
	evBase, stBase map[tkey]int64
	sentN          map[tkey]int64
	// lastSent is the QEMU timestamp of each VM's last event of a name.
	lastSent       map[tkey]time.Time
	pendEv, pendSt map[tkey][]*sentEv
	phase          []*sentEv
	exclude        map[int]bool
	lastProgress   time.Time

	// writes seen on one VM (a storming one), counted while counting is on
	stormVM                      int
	counting                     bool
	stormVMWrites, stormEvWrites int64
	rv                           map[string]string

	// pausing faults timed to their conditions (conditions.go)
	conds       map[int]map[string]condState
	probes      []*probe // of the current phase
	pendProbe   map[tkey]*probe
	probed      map[int]bool // VMs faulted and not yet cleared
	probeCursor int
}

func newTracker() *tracker {
	t := &tracker{
		reasonToName: map[string]string{},
		evCounts:     map[tkey]map[string]int64{}, evTotal: map[tkey]int64{}, evMaxL: map[tkey]time.Time{},
		stCounts: map[tkey]int64{}, vmConnected: map[int]bool{}, vmResyncs: map[int]int64{},
		conditioned: map[string]bool{}, rv: map[string]string{}, stormVM: -1,
		conds: map[int]map[string]condState{}, pendProbe: map[tkey]*probe{}, probed: map[int]bool{},
		lastSent: map[tkey]time.Time{},
	}
	for _, n := range mixNames {
		t.reasonToName[model.ReasonFor(n)] = n
	}
	t.newPhase()
	return t
}

// vmIndex is i for the VM named vm-i (see test/loadgen), else -1.
func vmIndex(name string) int {
	s, ok := strings.CutPrefix(name, "vm-")
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return i
}

func (t *tracker) onEvent(ev *eventsv1.Event, now time.Time) {
	if ev.ReportingController != qmpagent.ReportingController {
		return
	}
	vm := vmIndex(ev.Regarding.Name)
	name, ok := t.reasonToName[ev.Reason]
	if vm < 0 || !ok {
		return
	}
	count, last := int64(1), ev.EventTime.Time
	if ev.Series != nil {
		count = int64(ev.Series.Count)
		if ev.Series.LastObservedTime.After(last) {
			last = ev.Series.LastObservedTime.Time
		}
	}
	k := tkey{vm, name}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.counting && vm == t.stormVM && t.rv["ev/"+ev.Name] != ev.ResourceVersion {
		t.stormEvWrites++
	}
	t.rv["ev/"+ev.Name] = ev.ResourceVersion
	m := t.evCounts[k]
	if m == nil {
		m = map[string]int64{}
		t.evCounts[k] = m
	}
	if old := m[ev.Name]; count > old {
		m[ev.Name] = count
		t.evTotal[k] += count - old
	}
	if last.After(t.evMaxL[k]) {
		t.evMaxL[k] = last
	}
	t.checkEv(k, now)
}

func (t *tracker) checkEv(k tkey, now time.Time) {
	list := t.pendEv[k]
	for len(list) > 0 {
		s := list[0]
		if t.evTotal[k]-t.evBase[k] < s.k || t.evMaxL[k].Before(s.ts) {
			break
		}
		s.evSeen = now
		t.lastProgress = now
		list = list[1:]
	}
	t.pendEv[k] = list
}

func (t *tracker) checkSt(k tkey, now time.Time) {
	list := t.pendSt[k]
	for len(list) > 0 {
		s := list[0]
		if t.stCounts[k]-t.stBase[k] < s.k {
			break
		}
		s.stSeen = now
		t.lastProgress = now
		list = list[1:]
	}
	t.pendSt[k] = list
}

func (t *tracker) onVM(vm *vmv1.VirtualMachine, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(vm.Status.Conditions) > 0 {
		t.conditioned[vm.Name] = true
	}
	i := vmIndex(vm.Name)
	if i < 0 {
		return
	}
	if t.counting && i == t.stormVM && t.rv["vm/"+vm.Name] != vm.ResourceVersion {
		t.stormVMWrites++
	}
	t.rv["vm/"+vm.Name] = vm.ResourceVersion
	t.onFacts(i, &vm.Status, now)
	t.onConditions(i, vm.Status.Conditions, now)
	t.vmConnected[i] = vm.Status.Monitor != nil && vm.Status.Monitor.State == vmv1.MonitorConnected
	if vm.Status.Delivery != nil {
		t.vmResyncs[i] = vm.Status.Delivery.Resyncs
	}
	for name, v := range vm.Status.EventCounts {
		k := tkey{i, name}
		if v > t.stCounts[k] {
			t.stCounts[k] = v
			t.checkSt(k, now)
		}
	}
}

// sent records an event the load generator wrote to a client.
func (t *tracker) sent(vm int, name string, ts, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.exclude[vm] {
		return
	}
	k := tkey{vm, name}
	t.sentN[k]++
	prev, seen := t.lastSent[k]
	t.lastSent[k] = ts
	s := &sentEv{vm: vm, name: name, ts: ts, k: t.sentN[k], repeat: seen && ts.Sub(prev) <= model.RepeatWindow}
	t.phase = append(t.phase, s)
	t.pendEv[k] = append(t.pendEv[k], s)
	t.pendSt[k] = append(t.pendSt[k], s)
	t.checkEv(k, now)
	t.checkSt(k, now)
}

// newPhase starts counting afresh from what the API shows now.
func (t *tracker) newPhase(exclude ...int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.evBase, t.stBase = map[tkey]int64{}, map[tkey]int64{}
	for k, v := range t.evTotal {
		t.evBase[k] = v
	}
	for k, v := range t.stCounts {
		t.stBase[k] = v
	}
	t.sentN, t.pendEv, t.pendSt, t.phase = map[tkey]int64{}, map[tkey][]*sentEv{}, map[tkey][]*sentEv{}, nil
	t.probes, t.pendProbe = nil, map[tkey]*probe{}
	t.exclude = map[int]bool{}
	for _, vm := range exclude {
		t.exclude[vm] = true
	}
	t.lastProgress = time.Now()
}

// pending is how many events of the phase are not yet visible as Events and
// in status, and when one last became visible.
func (t *tracker) pending() (ev, st int, last time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range t.pendEv {
		ev += len(l)
	}
	for _, l := range t.pendSt {
		st += len(l)
	}
	return ev, st, t.lastProgress
}

// phaseResult is what a phase's events became.
type phaseResult struct {
	events []*sentEv
	probes []*probe
	// per event name, summed over VMs: sent, Event series counts gained,
	// status eventCounts gained, and the shortfalls and excesses of each
	// (computed per VM, then summed).
	sent, evGain, stGain                   map[string]int64
	evMissing, evExtra, stMissing, stExtra map[string]int64
}

func (t *tracker) result() phaseResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := phaseResult{events: append([]*sentEv(nil), t.phase...), probes: append([]*probe(nil), t.probes...),
		sent: map[string]int64{}, evGain: map[string]int64{}, stGain: map[string]int64{},
		evMissing: map[string]int64{}, evExtra: map[string]int64{}, stMissing: map[string]int64{}, stExtra: map[string]int64{}}
	keys := map[tkey]bool{}
	for k := range t.sentN {
		keys[k] = true
	}
	for k := range t.evTotal {
		if t.evTotal[k] != t.evBase[k] {
			keys[k] = true
		}
	}
	for k := range t.stCounts {
		if t.stCounts[k] != t.stBase[k] {
			keys[k] = true
		}
	}
	for k := range keys {
		if t.exclude[k.vm] {
			continue
		}
		s, e, st := t.sentN[k], t.evTotal[k]-t.evBase[k], t.stCounts[k]-t.stBase[k]
		r.sent[k.name] += s
		r.evGain[k.name] += e
		r.stGain[k.name] += st
		if e < s {
			r.evMissing[k.name] += s - e
		} else {
			r.evExtra[k.name] += e - s
		}
		if st < s {
			r.stMissing[k.name] += s - st
		} else {
			r.stExtra[k.name] += st - s
		}
	}
	return r
}

// gained is how much a VM's Event series counts and status eventCounts of
// one event rose since the phase started.
func (t *tracker) gained(vm int, name string) (ev, st int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := tkey{vm, name}
	return t.evTotal[k] - t.evBase[k], t.stCounts[k] - t.stBase[k]
}

// countStorm starts counting the writes seen on vm afresh.
func (t *tracker) countStorm(vm int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stormVM, t.counting, t.stormVMWrites, t.stormEvWrites = vm, true, 0, 0
}

// stormWrites is the writes counted so far; stop ends the counting.
func (t *tracker) stormWrites(stop bool) (vmWrites, evWrites int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if stop {
		t.counting = false
	}
	return t.stormVMWrites, t.stormEvWrites
}

// connectedVMs is how many VMs' status says Connected, and how many have
// more resyncs than before says (nil: not counted).
func (t *tracker) connectedVMs(before map[int]int64) (connected, resynced int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, c := range t.vmConnected {
		if c {
			connected++
		}
		if before != nil && t.vmResyncs[i] > before[i] {
			resynced++
		}
	}
	return
}

func (t *tracker) resyncs() map[int]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.vmResyncs)
}

func (t *tracker) conditionedCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conditioned)
}

// watchers runs the informers that feed the tracker; restart makes new
// ones (after an apiserver outage, so that the bench sees the catch-up
// when it happens rather than after its own reconnect backoff).
type watchers struct {
	kc     *kubernetes.Clientset
	cl     client.WithWatch
	ns     string
	tr     *tracker
	cancel context.CancelFunc
}

func (w *watchers) start(ctx context.Context) {
	ctx, w.cancel = context.WithCancel(ctx)
	evLW := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return w.kc.EventsV1().Events(w.ns).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return w.kc.EventsV1().Events(w.ns).Watch(ctx, o)
		},
	}
	vmLW := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l := &vmv1.VirtualMachineList{}
			err := w.cl.List(ctx, l, client.InNamespace(w.ns), &client.ListOptions{Raw: &o})
			return l, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return w.cl.Watch(ctx, &vmv1.VirtualMachineList{}, client.InNamespace(w.ns), &client.ListOptions{Raw: &o})
		},
	}
	evInf := cache.NewSharedIndexInformer(evLW, &eventsv1.Event{}, 0, cache.Indexers{})
	_, _ = evInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.event(o) },
		UpdateFunc: func(_, o any) { w.event(o) },
	})
	vmInf := cache.NewSharedIndexInformer(vmLW, &vmv1.VirtualMachine{}, 0, cache.Indexers{})
	_, _ = vmInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.vm(o) },
		UpdateFunc: func(_, o any) { w.vm(o) },
	})
	go evInf.RunWithContext(ctx)
	go vmInf.RunWithContext(ctx)
	cache.WaitForCacheSync(ctx.Done(), evInf.HasSynced, vmInf.HasSynced)
}

func (w *watchers) event(o any) {
	if ev, ok := o.(*eventsv1.Event); ok {
		w.tr.onEvent(ev, time.Now())
	}
}

func (w *watchers) vm(o any) {
	if vm, ok := o.(*vmv1.VirtualMachine); ok {
		w.tr.onVM(vm, time.Now())
	}
}

func (w *watchers) restart(ctx context.Context) {
	w.cancel()
	w.start(ctx)
}
