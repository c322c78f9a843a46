package main

import (
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vmevents/vmevents/internal/heartbeat"
	"github.com/vmevents/vmevents/qmpagent"
)

// The cluster scenario 7 extrapolates to, and what it assumes of its
// control plane (each stated in the report).
const (
	bigNodes        = 1000
	bigVMsPerNode   = 100
	apiservers      = 3
	eventTTL        = time.Hour // kube-apiserver's --event-ttl default
	writeBudget     = 1000.0    // writes/s vmevents may take of the cluster's etcd, assumed
	clusterWriteCap = 10000.0   // writes/s of ~1 KiB objects a 3-member etcd on SSDs sustains, assumed
)

// costModel is what scenario 7 measured, reduced to costs per node, per VM
// and per event, and the controller's and apiserver's figures the
// extrapolation needs.
type costModel struct {
	n, m int
	// leasePerNode is an agent's Lease renewals/s; each is one PUT (a GET
	// first only after a conflict or a failed write: qmpagent/heartbeat.go).
	leasePerNode float64
	// vmReq and vmWrites are an idle VM's share of its agent's requests
	// and writes beyond the Lease, per second.
	vmReq, vmWrites float64
	// ctrlIdle is the controller's requests/s when nothing happens (its
	// leader Lease, mostly): a fixed cost.
	ctrlIdle float64
	// per event of the mix, net of the idle rate: the apiserver's requests,
	// writes and Event creations (all clients), the agent's writes, the
	// controller's requests and reconciles.
	reqPerEvent, writesPerEvent, createsPerEvent float64
	agentWritesPerEvent, ctrlReqPerEvent         float64
	reconcilesPerEvent                           float64
	// vmReconciles is the controller's reconciles/s per VM when idle
	// (nothing but a Lease going stale wakes an idle VM, so about zero: a
	// regression shows here). nodeIdleCPU is the controller's CPU when
	// idle per node, in cores: what it does idle comes with the nodes'
	// Lease renewals, and its fixed cost is spread over them, which
	// overstates it at scale. eventCPU is its CPU seconds per event.
	vmReconciles, nodeIdleCPU, eventCPU float64
	watchesPerAgent                     float64
	readLat, writeLat, reconcileTime    time.Duration
	workers, ctrlQPS, agentQPS          float64
	level                               string
	seats                               float64
	mixRate                             float64 // events/s per VM in the mix
	// queueWait is the controller's mean queue wait under the mix: when
	// long, it was saturated and its reconciles per event (requeues and
	// events folding in its queue) are a lower bound.
	queueWait time.Duration
}

func (b *bench) costModel(end fleetSnap, idle, load phaseCost, n, m, events int, open map[string]float64, live int) costModel {
	// The apiserver's service time: its latency idle, when nothing queues
	// (under the mix this machine's apiserver queues, and Little's law
	// would count the queueing twice).
	c := costModel{n: n, m: m, ctrlIdle: sumMap(idle.ctrlReq, nil), readLat: idle.readLatency, writeLat: idle.writeLatency,
		reconcileTime: load.reconcileTime, queueWait: load.queueWait, agentQPS: qmpagent.DefaultKubeAPIQPS, mixRate: b.p.Rate / float64(n*m)}
	if live > 0 {
		c.vmReconciles = idle.reconciles / float64(live)
	}
	c.nodeIdleCPU = idle.ctrlCPU / 100 / float64(n)
	isLease := func(k string) bool { return strings.HasPrefix(k, "lease ") }
	c.leasePerNode = sumMap(idle.agentWrites, isLease) / float64(n)
	c.vmReq = max(0, sumMap(idle.agentReq, nil)/float64(n)-c.leasePerNode) / float64(m)
	c.vmWrites = sumMap(idle.agentWrites, func(k string) bool { return !isLease(k) }) / float64(n*m)
	if events > 0 {
		// Costs per event: the mix window's counts less what the same
		// window would have cost idle.
		net := func(loadRate, idleRate float64) float64 { return max(0, (loadRate-idleRate)*load.secs/float64(events)) }
		isCreate := func(k string) bool { return k == "POST events" }
		c.reqPerEvent = net(sumMap(load.api, nil), sumMap(idle.api, nil))
		c.writesPerEvent = net(sumMap(load.api, isWrite), sumMap(idle.api, isWrite))
		c.createsPerEvent = net(sumMap(load.api, isCreate), sumMap(idle.api, isCreate))
		c.agentWritesPerEvent = net(sumMap(load.agentWrites, nil), sumMap(idle.agentWrites, nil))
		c.ctrlReqPerEvent = net(sumMap(load.ctrlReq, nil), sumMap(idle.ctrlReq, nil))
		c.reconcilesPerEvent = net(load.reconciles, idle.reconciles)
		c.eventCPU = net(load.ctrlCPU/100, idle.ctrlCPU/100)
	}
	c.watchesPerAgent = sumMap(open, nil) / float64(n)
	c.workers = end.ctrl.sum("controller_runtime_max_concurrent_reconciles", nil)
	c.ctrlQPS = flagDefault(b.o.Binary, "controller", "kube-api-qps")
	// The priority level the vmevents service accounts' requests land in:
	// the busiest one not exempt during the mix (the bench's own are
	// exempt: it is the admin).
	best := 0.0
	for k, v := range load.apf {
		level, _, _ := strings.Cut(k, " ")
		if level != "exempt" && v > best {
			best, c.level = v, k
		}
	}
	level, _, _ := strings.Cut(c.level, " ")
	c.seats = end.api.sum("apiserver_flowcontrol_nominal_limit_seats", func(l map[string]string) bool { return l["priority_level"] == level })
	return c
}

// flagDefault reads a flag's default from `vmevents SUB --help`, so the
// report states what the binary uses (0 when unreadable).
func flagDefault(binary, sub, flag string) float64 {
	out, _ := exec.Command(binary, sub, "--help").CombinedOutput()
	re := regexp.MustCompile(`(?s)-` + regexp.QuoteMeta(flag) + ` [a-z0-9]+\n[^\n]*\(default ([0-9.]+)\)`)
	if sm := re.FindSubmatch(out); sm != nil {
		v, _ := strconv.ParseFloat(string(sm[1]), 64)
		return v
	}
	return 0
}

// load is what the big cluster asks at rate events/s per VM.
type bigLoad struct {
	events, reqs, writes, reconciles, ctrlReqs, ctrlCores, seats, alive float64
}

func (c costModel) at(rate float64) bigLoad {
	vms := float64(bigNodes * bigVMsPerNode)
	var l bigLoad
	l.events = vms * rate
	leaseReqs := bigNodes * c.leasePerNode
	l.reqs = leaseReqs + vms*c.vmReq + c.ctrlIdle + l.events*c.reqPerEvent
	l.writes = bigNodes*c.leasePerNode + vms*c.vmWrites + l.events*c.writesPerEvent
	l.reconciles = vms*c.vmReconciles + l.events*c.reconcilesPerEvent
	l.ctrlCores = bigNodes*c.nodeIdleCPU + l.events*c.eventCPU
	l.ctrlReqs = c.ctrlIdle + l.events*c.ctrlReqPerEvent
	// Little's law: requests in flight = rate x time in the apiserver,
	// spread over the apiservers.
	l.seats = ((l.reqs-l.writes)*c.readLat.Seconds() + l.writes*c.writeLat.Seconds()) / apiservers
	l.alive = l.events * c.createsPerEvent * eventTTL.Seconds()
	return l
}

// maxRate is the events/s per VM the cluster can take within writes
// writes/s.
func (c costModel) maxRate(writes float64) float64 {
	idle := c.at(0).writes
	if c.writesPerEvent <= 0 {
		return 0
	}
	return max(0, writes-idle) / (float64(bigNodes*bigVMsPerNode) * c.writesPerEvent)
}

func (c costModel) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	vms := bigNodes * bigVMsPerNode
	capacity := 0.0
	if c.reconcileTime > 0 {
		capacity = c.workers / c.reconcileTime.Seconds()
	}
	w("### Extrapolation: %s nodes x %d VMs\n\n", thousands(bigNodes), bigVMsPerNode)
	w("From the costs measured above (per node, per VM, per event), scaled linearly to %s nodes with %d VMs each (%s VMs) against a production control plane. ", thousands(bigNodes), bigVMsPerNode, thousands(float64(vms)))
	w("**Measured** in this run:\n\n")
	w("%s\n", table([]string{"input (measured)", "value"},
		[]string{"agent Lease renewals/s per node (each one PUT)", fmt.Sprintf("%.3f", c.leasePerNode)},
		[]string{"agent requests/s per idle VM beyond the Lease (its share of the node's idle requests)", fmt.Sprintf("%.5f", c.vmReq)},
		[]string{"agent writes/s per idle VM beyond the Lease", fmt.Sprintf("%.5f", c.vmWrites)},
		[]string{"controller requests/s when idle (fixed: its leader Lease)", f2(c.ctrlIdle)},
		[]string{"per event of the mix (net of idle): apiserver requests / writes / Event creations", fmt.Sprintf("%.2f / %.2f / %.2f", c.reqPerEvent, c.writesPerEvent, c.createsPerEvent)},
		[]string{"per event: agent writes / controller requests / controller reconciles", fmt.Sprintf("%.2f / %.2f / %.2f", c.agentWritesPerEvent, c.ctrlReqPerEvent, c.reconcilesPerEvent)},
		[]string{"controller reconciles/s per VM when idle (a renewal reconciles no VM; a Lease going stale wakes its node's), so one every", fmt.Sprintf("%.5f, %s", c.vmReconciles, every(c.vmReconciles))},
		[]string{"controller CPU when idle, per node (its Lease renewals; its fixed cost spread over the nodes) / CPU seconds per event of the mix", fmt.Sprintf("%.4f cores / %.2f ms", c.nodeIdleCPU, c.eventCPU*1000)},
		[]string{"watches per agent", fmt.Sprintf("%.1f", c.watchesPerAgent)},
		[]string{"apiserver mean latency idle, reads / writes: its service time without queueing (this machine)", fmt.Sprintf("%.1f ms / %.1f ms", c.readLat.Seconds()*1000, c.writeLat.Seconds()*1000)},
		[]string{"controller: workers (`controller_runtime_max_concurrent_reconciles`), mean reconcile under the mix (most write), so at most writing reconciles/s", fmt.Sprintf("%.0f, %s, %.0f/s", c.workers, ms(c.reconcileTime), capacity)},
		[]string{"controller client limit (`vmevents controller --kube-api-qps` default); agent's", fmt.Sprintf("%.0f/s; %.0f/s", c.ctrlQPS, c.agentQPS)},
		[]string{"priority level (flow schema) of the busiest non-exempt requests; its nominal seats on this apiserver", fmt.Sprintf("%s; %.0f", c.level, c.seats)},
	))
	rates := []struct {
		name string
		r    float64
	}{{"idle", 0}, {"1 per VM per hour", 1.0 / 3600}, {"1 per VM per 10 min", 1.0 / 600}, {"1 per VM per minute", 1.0 / 60},
		{fmt.Sprintf("scenario-2 mix (%.2g per VM per s)", c.mixRate), c.mixRate}}
	var rows [][]string
	for _, r := range rates {
		l := c.at(r.r)
		rows = append(rows, []string{r.name, thousands(l.events), thousands(l.reqs), thousands(l.writes), fmt.Sprintf("%.1f", l.seats),
			thousands(l.reconciles), thousands(l.ctrlReqs), fmt.Sprintf("%.2f", l.ctrlCores), thousands(l.alive)})
	}
	w("%s\n", table([]string{"events", "events/s", "apiserver requests/s", "writes/s", "seats busy per apiserver", "controller reconciles/s", "controller requests/s", "controller CPU, cores", "Event objects alive"}, rows...))
	idle := c.at(0)
	w("Read: idle, %s agents cost the control plane %.0f requests/s and %.0f writes/s, almost all Lease renewals (one more Lease per node beside the kubelet's, renewed every %s), "+
		"and hold %s watches (%.0f per agent; each VirtualMachine change is matched against every agent's field selector). ",
		thousands(bigNodes), idle.reqs, idle.writes, heartbeat.DefaultRenewInterval, thousands(c.watchesPerAgent*bigNodes), c.watchesPerAgent)
	w("The controller, idle, reconciles %s times a second (a renewal wakes no VM; only a Lease going stale wakes its node's) and needs %.2f cores, "+
		"its CPU per node here times %s nodes. ", thousands(idle.reconciles), idle.ctrlCores, thousands(bigNodes))
	w("Events cost %.2f writes each: within an assumed budget of %s writes/s for vmevents the cluster takes %.3g events/s per VM (one per VM every %s); "+
		"the whole assumed etcd capacity of %s writes/s would take %.3g (one every %s). ",
		c.writesPerEvent, thousands(writeBudget), c.maxRate(writeBudget), every(c.maxRate(writeBudget)), thousands(clusterWriteCap), c.maxRate(clusterWriteCap), every(c.maxRate(clusterWriteCap)))
	mix := c.at(c.mixRate)
	w("At the scenario-2 rate per VM the cluster would send %s events/s: %s writes/s, beyond any single etcd; the controller would need %s reconciles/s, of which %s for events (it managed about %.0f writing reconciles/s here) "+
		"and %s requests/s (its client allows %.0f). Per node that rate is %.0f events/s and %.0f agent writes/s, against the agent's client limit of %.0f requests/s.\n\n",
		thousands(mix.events), thousands(mix.writes), thousands(mix.reconciles), thousands(mix.events*c.reconcilesPerEvent), capacity, thousands(mix.ctrlReqs), c.ctrlQPS, c.mixRate*bigVMsPerNode, c.mixRate*bigVMsPerNode*c.agentWritesPerEvent, c.agentQPS)
	if c.queueWait > time.Second {
		w("The controller was saturated during the mix on this machine (mean queue wait %s; its writes waited on an apiserver answering in over a second): "+
			"requests for one VM fold in its queue, so its reconciles per event above are a lower bound, and its writes per event are the firmer figure.\n\n", ms(c.queueWait))
	}
	w("**Assumed**:\n\n")
	w("- Costs scale linearly: a node's idle cost does not depend on how many nodes there are, a VM's on how many VMs its node has, and an event costs what it cost here whatever the cluster's size. ")
	w("Events spread over many VMs rarely fold into an Event series (as in the mix), so each is an Event write; a VM that repeats one event costs less (scenario 3).\n")
	w("- The control plane: %d kube-apiservers with the default flags (`--max-requests-inflight 400`, `--max-mutating-requests-inflight 200`) and the default API priority and fairness configuration, ", apiservers)
	w("so each has the nominal seats this apiserver reports for the level above (the vmevents service accounts are not given a FlowSchema of their own); ")
	w("requests spread evenly over the apiservers; the seats busy are requests/s times the mean latency this apiserver had idle (Little's law, service time without queueing), which on a shared 2-core machine likely overstates a production apiserver's.\n")
	w("- etcd: 3 members on SSDs; %s writes/s of objects of about 1 KiB is assumed as what the cluster sustains in all (etcd's own benchmarks reach tens of thousands of small writes/s; ", thousands(clusterWriteCap))
	w("Kubernetes objects are larger and every write also goes through an apiserver and every watch), of which vmevents may take %s writes/s beside the kubelets, the scheduler and the other controllers.\n", thousands(writeBudget))
	w("- Events live %s (`--event-ttl` default): the Event objects alive are Event creations/s times that.\n", eventTTL)
	w("- One controller leader, as deployed (config/default), with the workers and client limit measured above; its reconcile time is this machine's.\n")
	return b.String()
}

// thousands renders v rounded, thousands separated by commas.
func thousands(v float64) string {
	s := strconv.FormatFloat(math.Abs(v), 'f', 0, 64)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if v <= -0.5 {
		return "-" + s
	}
	return s
}

// every renders 1/rate as a duration ("-" for zero).
func every(rate float64) string {
	if rate <= 0 {
		return "-"
	}
	d := time.Duration(float64(time.Second) / rate)
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%.1f min", d.Minutes())
	default:
		return ms(d)
	}
}
