package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmevents/vmevents/test/framework/stack"
)

// fleet is scenario 7's agents, one per node, and their /metrics URLs.
type fleet struct {
	agents []*stack.NodeAgent
	urls   []string
}

// fleetSnap is the counters of the apiserver, the controller and every
// agent of the fleet at one moment.
type fleetSnap struct {
	at     time.Time
	api    metrics
	ctrl   metrics
	ctrlP  procSample
	agents []metrics
	procs  []procSample
}

func (b *bench) fleetSnap(ctx context.Context, f *fleet) fleetSnap {
	s := fleetSnap{at: time.Now(), agents: make([]metrics, len(f.agents)), procs: make([]procSample, len(f.agents))}
	var wg sync.WaitGroup
	for i, a := range f.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.procs[i], _ = readProc(a.Pid())
			m, err := scrapeHTTP(f.urls[i])
			if err != nil {
				logf("scraping the agent of %s: %v", a.Node, err)
				m = metrics{}
			}
			s.agents[i] = m
		}()
	}
	var err error
	if s.api, err = scrapeAPIServer(ctx, b.kc); err != nil {
		logf("scraping the apiserver: %v", err)
		s.api = metrics{}
	}
	if s.ctrl, err = scrapeHTTP(b.ctrlM); err != nil {
		logf("scraping the controller: %v", err)
		s.ctrl = metrics{}
	}
	s.ctrlP, _ = readProc(b.ctrlS.pidNow())
	wg.Wait()
	return s
}

// phaseCost is what a window between two fleet snapshots cost, rates per
// second over the window.
type phaseCost struct {
	secs float64
	// api is the apiserver's requests by "VERB resource" (all clients,
	// watches excluded).
	api map[string]float64
	// agentReq is the agents' requests by method, all agents together
	// (their client's rest_client_requests_total); agentWrites their API
	// writes by kind (vmevents_agent_api_write_duration_seconds_count).
	agentReq, agentWrites map[string]float64
	// ctrlReq is the controller's requests by method.
	ctrlReq map[string]float64
	// apf is the requests the apiserver's priority and fairness dispatched
	// by priority level and flow schema.
	apf                       map[string]float64
	reconciles                float64
	queueWait, reconcileTime  time.Duration // means
	readLatency, writeLatency time.Duration // the apiserver's means, watches excluded
	agentCPU, agentRSS        spread        // per agent, % of a core and KiB
	ctrlCPU                   float64
	ctrlRSS                   int64
}

// spread is the mean and maximum of a value over the agents.
type spread struct{ mean, max float64 }

func spreadOf(v []float64) spread {
	var s spread
	for _, x := range v {
		s.mean += x / float64(len(v))
		s.max = max(s.max, x)
	}
	return s
}

func costOf(a, c fleetSnap) phaseCost {
	p := phaseCost{secs: c.at.Sub(a.at).Seconds(), agentReq: map[string]float64{}, agentWrites: map[string]float64{}}
	perS := func(m map[string]float64) map[string]float64 {
		for k := range m {
			m[k] /= p.secs
		}
		return m
	}
	p.api = perS(apiRequests(snapshot{api: a.api}, snapshot{api: c.api}))
	var cpu, rss []float64
	for i := range c.agents {
		for k, v := range groupDelta(a.agents[i], c.agents[i], "rest_client_requests_total", func(l map[string]string) string { return l["method"] }) {
			p.agentReq[k] += v / p.secs
		}
		for k, v := range agentWrites(snapshot{agent: a.agents[i]}, snapshot{agent: c.agents[i]}) {
			p.agentWrites[k] += v / p.secs
		}
		cpu = append(cpu, cpuPercent(a.procs[i], c.procs[i]))
		rss = append(rss, float64(c.procs[i].RSSKiB))
	}
	p.agentCPU, p.agentRSS = spreadOf(cpu), spreadOf(rss)
	p.ctrlReq = perS(groupDelta(a.ctrl, c.ctrl, "rest_client_requests_total", func(l map[string]string) string { return l["method"] }))
	p.apf = perS(groupDelta(a.api, c.api, "apiserver_flowcontrol_dispatched_requests_total", func(l map[string]string) string {
		return l["priority_level"] + " (" + l["flow_schema"] + ")"
	}))
	delta := func(m0, m1 metrics, name string) float64 { return m1.sum(name, nil) - m0.sum(name, nil) }
	n := delta(a.ctrl, c.ctrl, "controller_runtime_reconcile_total")
	p.reconciles = n / p.secs
	p.reconcileTime = meanOf(delta(a.ctrl, c.ctrl, "controller_runtime_reconcile_time_seconds_sum"), delta(a.ctrl, c.ctrl, "controller_runtime_reconcile_time_seconds_count"))
	p.queueWait = meanOf(delta(a.ctrl, c.ctrl, "workqueue_queue_duration_seconds_sum"), delta(a.ctrl, c.ctrl, "workqueue_queue_duration_seconds_count"))
	latency := func(write bool) time.Duration {
		keep := func(l map[string]string) bool {
			return l["verb"] != "WATCH" && l["verb"] != "CONNECT" && l["resource"] != "" && isWrite(l["verb"]+" ") == write
		}
		return meanOf(c.api.sum("apiserver_request_duration_seconds_sum", keep)-a.api.sum("apiserver_request_duration_seconds_sum", keep),
			c.api.sum("apiserver_request_duration_seconds_count", keep)-a.api.sum("apiserver_request_duration_seconds_count", keep))
	}
	p.readLatency, p.writeLatency = latency(false), latency(true)
	p.ctrlCPU, p.ctrlRSS = cpuPercent(a.ctrlP, c.ctrlP), c.ctrlP.RSSKiB
	return p
}

// meanOf is a histogram's mean from its sum (seconds) and count.
func meanOf(sum, count float64) time.Duration {
	if count <= 0 {
		return 0
	}
	return time.Duration(sum / count * float64(time.Second))
}

// mapLineP renders "k v, k v" sorted by key, values with prec decimals.
func mapLineP(m map[string]float64, prec int) string {
	var keys []string
	for k, v := range m {
		if fmt.Sprintf("%.*f", prec, v) != fmt.Sprintf("%.*f", prec, 0.0) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.*f", k, prec, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func scaled(m map[string]float64, by float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		out[k] = v * by
	}
	return out
}

// watches is the apiserver's open watches by resource.
func watches(m metrics) map[string]float64 {
	out := map[string]float64{}
	for series, v := range m {
		n, l := labels(series)
		if n == "apiserver_longrunning_requests" && l["verb"] == "WATCH" {
			out[l["resource"]] += v
		}
	}
	return out
}
