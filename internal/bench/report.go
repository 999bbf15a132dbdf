package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"text/tabwriter"
)

// WriteTable prints r as a two-column table.
func WriteTable(w io.Writer, r Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(k string, format string, a ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...)
	}
	p("case / server", "%s / %s (%s)", r.Case, r.Server, r.Scenario)
	p("clients / rooms / events", "%d / %d / %d (%d process(es))", r.Clients, r.Rooms, r.Events, r.Workers)
	if r.Nodes > 1 {
		p("server nodes", "%d (CPU and RSS summed over them)", r.Nodes)
	}
	p("connected / failed", "%d / %d in %.1fs", r.Connected, r.ConnectFailed, r.ConnectSeconds)
	if r.Polling > 0 {
		p("of them on long-polling", "%d", r.Polling)
	}
	if r.Scenario != ScenarioIdle {
		p("delivered / expected", "%d / %d (complete: %v)", r.Delivered, r.Expected, r.Complete)
		p("incomplete conns / extra / disconnects / errors", "%d / %d / %d / %d (emit errors %d)", r.Incomplete, r.Extra, r.Disconnects, r.Errors, r.EmitErrors)
		p("deliveries/s", "%.0f (%.2fs, emitting %.2fs)", r.DeliveriesPerSec, r.Seconds, r.EmitSeconds)
		p("latency p50 / p99 / max", "%.0f / %.0f / %.0f µs", r.P50Us, r.P99Us, r.MaxUs)
		p("server CPU", "%.2fs = %.3fs per 1000 deliveries (%.2f µs each)", r.ServerCPUSeconds, r.CPUSecPer1000, r.CPUUsPerDelivery)
		if r.DBCPUSeconds > 0 {
			p("database CPU", "%.2fs (%.2f µs per delivery)", r.DBCPUSeconds, r.DBCPUUsPerDelivery)
		}
		if r.RedisCPUSeconds > 0 {
			p("Redis CPU", "%.2fs (%.1f µs per event)", r.RedisCPUSeconds, r.RedisCPUUsPerEvent)
		}
		if r.RESTP50Us > 0 {
			p("REST request p50 / p99", "%.0f / %.0f µs", r.RESTP50Us, r.RESTP99Us)
		}
	}
	p("server RSS base / connected / after", "%.1f / %.1f / %.1f MB", r.RSSBaseMB, r.RSSConnectedMB, r.RSSAfterMB)
	p("server RSS per connection", "%.1f KB", r.RSSPerConnKB)
	tw.Flush()
}

// WriteJSON prints r as one JSON line.
func WriteJSON(w io.Writer, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// Target is a goal: ours/reference of Metric must be at most MaxRatio for
// the case, and ours at most Max when Max is set (an absolute bound, in the
// metric's unit).
type Target struct {
	Case     string
	Metric   string
	MaxRatio float64
	Max      float64
}

// Targets are the goals (ours / Node reference, medians of several runs)
// that docs/performance.md tracks, keyed by the case names bench/run.sh
// uses: issue 13's for one node, issue 11's for three.
var Targets = []Target{
	{Case: "fanout-1k", Metric: "cpuUsPerDelivery", MaxRatio: 0.25},
	{Case: "fanout-10k", Metric: "cpuUsPerDelivery", MaxRatio: 0.25},
	{Case: "fanout-10k", Metric: "p99Us", MaxRatio: 1.0},
	// REST-driven: a quarter of Node's CPU with rooms of 100 or more, half
	// with rooms of 10; p99 no worse anywhere.
	{Case: "e2e", Metric: "cpuUsPerDelivery", MaxRatio: 0.25},
	{Case: "e2e", Metric: "p99Us", MaxRatio: 1.0},
	{Case: "e2e-1000", Metric: "cpuUsPerDelivery", MaxRatio: 0.25}, // 1,000 PATCHes: Node's JIT warm
	{Case: "e2e-1000", Metric: "p99Us", MaxRatio: 1.0},
	{Case: "e2e-paced", Metric: "cpuUsPerDelivery", MaxRatio: 0.25},
	{Case: "e2e-paced", Metric: "p99Us", MaxRatio: 1.0}, // at the same offered load
	{Case: "e2e-room-1k", Metric: "cpuUsPerDelivery", MaxRatio: 0.25},
	{Case: "e2e-room-1k", Metric: "p99Us", MaxRatio: 1.0},
	{Case: "e2e-rooms-10", Metric: "cpuUsPerDelivery", MaxRatio: 0.5},
	{Case: "e2e-rooms-10", Metric: "p99Us", MaxRatio: 1.0},
	{Case: "rooms-5k", Metric: "cpuUsPerDelivery", MaxRatio: 0.5},
	{Case: "rooms-5k", Metric: "p99Us", MaxRatio: 1.0},
	// Long-polling: a third of Node's CPU and memory.
	{Case: "polling", Metric: "cpuUsPerDelivery", MaxRatio: 1.0 / 3},
	{Case: "polling", Metric: "rssPerConnKB", MaxRatio: 1.0 / 3},
	{Case: "polling", Metric: "p99Us", MaxRatio: 1.0},
	{Case: "idle-1k", Metric: "rssPerConnKB", MaxRatio: 1.0 / 3},
	{Case: "idle-10k", Metric: "rssPerConnKB", MaxRatio: 0.2, Max: 3},
	{Case: "hold-15k", Metric: "complete"}, // every run of ours delivered everything
	// Three nodes on one Redis (issue 11): the nodes' summed CPU.
	{Case: "cluster-e2e", Metric: "cpuUsPerDelivery", MaxRatio: 1.0 / 3},
	{Case: "cluster-e2e", Metric: "p99Us", MaxRatio: 1.0},
	{Case: "cluster-room-1k", Metric: "cpuUsPerDelivery", MaxRatio: 1.0 / 3},
	{Case: "cluster-room-1k", Metric: "p99Us", MaxRatio: 1.0},
	{Case: "cluster-mixed", Metric: "cpuUsPerDelivery", MaxRatio: 1.0 / 3},
	{Case: "cluster-mixed", Metric: "p99Us", MaxRatio: 1.0},
	{Case: "cluster-hold-50k", Metric: "complete"},
}

// metrics are the figures compared, in print order.
var metrics = []struct {
	key  string
	name string
	get  func(Result) float64
}{
	{"cpuUsPerDelivery", "CPU µs/delivery", func(r Result) float64 { return r.CPUUsPerDelivery }},
	{"dbCpuUsPerDelivery", "DB CPU µs/delivery", func(r Result) float64 { return r.DBCPUUsPerDelivery }},
	{"redisCpuUsPerEvent", "Redis CPU µs/event", func(r Result) float64 { return r.RedisCPUUsPerEvent }},
	{"rssPerConnKB", "RSS KB/conn", func(r Result) float64 { return r.RSSPerConnKB }},
	{"deliveriesPerSec", "deliveries/s", func(r Result) float64 { return r.DeliveriesPerSec }},
	{"p50Us", "p50 µs", func(r Result) float64 { return r.P50Us }},
	{"p99Us", "p99 µs", func(r Result) float64 { return r.P99Us }},
	{"maxUs", "max µs", func(r Result) float64 { return r.MaxUs }},
	{"restP50Us", "REST p50 µs", func(r Result) float64 { return r.RESTP50Us }},
	{"restP99Us", "REST p99 µs", func(r Result) float64 { return r.RESTP99Us }},
}

// ReadResults reads the JSON lines of earlier runs; other lines are skipped.
func ReadResults(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var res Result
		if err := json.Unmarshal(line, &res); err != nil {
			return nil, fmt.Errorf("result line: %w", err)
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// PairCases prepares two cases of one server for Compare: the runs of
// server in case a and in case b, as one case "a vs b" whose servers are a
// and b (the three-node cluster beside one node, say).
func PairCases(results []Result, server, a, b string) []Result {
	var out []Result
	for _, r := range results {
		if r.Server != server || (r.Case != a && r.Case != b) {
			continue
		}
		r.Server = r.Case
		r.Case = a + " vs " + b
		out = append(out, r)
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Compare prints, per case, the median of each figure for ours and ref and
// their ratio, then targets (usually Targets; none for a comparison that is
// not against the reference) with pass/miss. It returns the number of
// targets missed (cases without both servers are skipped).
func Compare(w io.Writer, results []Result, ours, ref string, targets []Target) int {
	type key struct{ c, s string }
	groups := map[key][]Result{}
	var cases []string
	for _, r := range results {
		k := key{r.Case, r.Server}
		if !slices.Contains(cases, r.Case) {
			cases = append(cases, r.Case)
		}
		groups[k] = append(groups[k], r)
	}
	med := func(c, s, m string) float64 {
		var v []float64
		for _, r := range groups[key{c, s}] {
			for _, mm := range metrics {
				if mm.key == m {
					v = append(v, mm.get(r))
				}
			}
		}
		return median(v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "case\tfigure (median)\t%s\t%s\tratio\t\n", ours, ref)
	for _, c := range cases {
		no, nr := len(groups[key{c, ours}]), len(groups[key{c, ref}])
		complete := func(s string) string {
			ok := 0
			for _, r := range groups[key{c, s}] {
				if r.Complete {
					ok++
				}
			}
			return fmt.Sprintf("%d/%d complete", ok, len(groups[key{c, s}]))
		}
		fmt.Fprintf(tw, "%s\truns\t%s\t%s\t\t\n", c, complete(ours), complete(ref))
		for _, m := range metrics {
			a, b := med(c, ours, m.key), med(c, ref, m.key)
			if (no == 0 || a == 0) && (nr == 0 || b == 0) {
				continue
			}
			ratio := "-"
			if no > 0 && nr > 0 && b != 0 {
				ratio = fmt.Sprintf("%.2f", a/b)
			}
			fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t\n", m.name, fmtNum(a, no), fmtNum(b, nr), ratio)
		}
	}
	tw.Flush()

	missed := 0
	if len(targets) == 0 {
		return 0
	}
	fmt.Fprintln(w, "\ntargets (ours / reference):")
	for _, t := range targets {
		if t.Metric == "complete" {
			runs := groups[key{t.Case, ours}]
			ok := 0
			for _, r := range runs {
				if r.Complete && r.Disconnects == 0 {
					ok++
				}
			}
			switch {
			case len(runs) == 0:
				fmt.Fprintf(w, "  %-15s %-17s          not measured\n", t.Case, "all delivered")
			case ok == len(runs):
				fmt.Fprintf(w, "  %-15s %-17s          %d/%d  met\n", t.Case, "all delivered", ok, len(runs))
			default:
				missed++
				fmt.Fprintf(w, "  %-15s %-17s          %d/%d  MISSED\n", t.Case, "all delivered", ok, len(runs))
			}
			continue
		}
		if len(groups[key{t.Case, ours}]) == 0 || len(groups[key{t.Case, ref}]) == 0 {
			fmt.Fprintf(w, "  %-15s %-17s <= %.2f  not measured\n", t.Case, t.Metric, t.MaxRatio)
			continue
		}
		a, b := med(t.Case, ours, t.Metric), med(t.Case, ref, t.Metric)
		if a == 0 && b == 0 { // a figure these runs do not give
			fmt.Fprintf(w, "  %-15s %-17s <= %.2f  not measured\n", t.Case, t.Metric, t.MaxRatio)
			continue
		}
		ratio := a / b
		verdict := "met"
		if !(ratio <= t.MaxRatio) {
			verdict = "MISSED"
			missed++
		}
		fmt.Fprintf(w, "  %-15s %-17s <= %.2f  %.2f  %s\n", t.Case, t.Metric, t.MaxRatio, ratio, verdict)
		if t.Max > 0 {
			verdict = "met"
			if !(a <= t.Max) {
				verdict = "MISSED"
				missed++
			}
			fmt.Fprintf(w, "  %-15s %-17s <= %-4g  %.2f  %s (ours, absolute)\n", t.Case, t.Metric, t.Max, a, verdict)
		}
	}
	return missed
}

func fmtNum(v float64, n int) string {
	if n == 0 || math.IsNaN(v) {
		return "-"
	}
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
