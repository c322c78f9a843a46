package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// micro is one in-package micro-benchmark of qmpagent/qmp: its name, what
// it measures, and the values go test reported by unit ("ns/op", "MB/s",
// "allocs/op", "events/s").
type micro struct {
	name, what string
	values     map[string]float64
}

// microBenches are the micro-benchmarks the page shows, in its order.
var microBenches = []struct{ name, what string }{
	{"BenchmarkDecoder", "split + validate"},
	{"BenchmarkDecodeEvent", "split + validate + build the Event"},
	{"BenchmarkEncodingJSONDecoder", "baseline: `json.Decoder` into a struct"},
	{"BenchmarkConnEvents", "end to end over a unix socket, server in-process, Events channel"},
	{"BenchmarkConnNextEvent", "the same with NextEvent, as the agent's sessions consume"},
}

// microPackage is the package the micro-benchmarks are in, from the
// repository root the benchmark runs in.
const microPackage = "./qmpagent/qmp/"

// microBenchmarks runs the micro-benchmarks with go test (benchtime "":
// its default) and returns what they reported.
func microBenchmarks(benchtime string) ([]micro, error) {
	var names []string
	for _, b := range microBenches {
		names = append(names, strings.TrimPrefix(b.name, "Benchmark"))
	}
	args := []string{"test", "-run", "^$", "-bench", "^Benchmark(" + strings.Join(names, "|") + ")$", "-benchmem"}
	if benchtime != "" {
		args = append(args, "-benchtime", benchtime)
	}
	cmd := exec.Command("go", append(args, microPackage)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	got := parseBench(string(out))
	var ms []micro
	for _, b := range microBenches {
		v, ok := got[b.name]
		if !ok {
			return nil, fmt.Errorf("go test reported no %s:\n%s", b.name, out)
		}
		ms = append(ms, micro{b.name, b.what, v})
	}
	return ms, nil
}

// parseBench reads go test -bench output: for each benchmark (its name
// without the -GOMAXPROCS suffix) the value of each unit.
func parseBench(out string) map[string]map[string]float64 {
	res := map[string]map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		vals := map[string]float64{}
		// f[1] is the iteration count, then value and unit pairs.
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				vals[f[i+1]] = v
			}
		}
		res[name] = vals
	}
	return res
}
