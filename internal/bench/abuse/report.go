package abuse

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteReport prints one scenario's figures.
func WriteReport(w io.Writer, r Report) {
	fmt.Fprintf(w, "\n== %s (row %s): %s\n", r.Scenario, r.Row, r.What)
	if r.Skipped != "" {
		fmt.Fprintf(w, "skipped: %s\n", r.Skipped)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	limit := "unknown"
	if r.NoFile > 0 {
		limit = fmt.Sprint(r.NoFile)
	}
	p("server", "%s, open-file limit %s", r.Server, limit)
	if r.Note != "" {
		p("note", "%s", r.Note)
	}
	p("attack", "%s (in %s)", tally(r.State.Tally), round(r.Established))
	for _, s := range r.State.Summary {
		p("", "%s", s)
	}
	if r.State.Held > 0 {
		ended := ""
		if n := r.State.Held - r.State.Open; n > 0 {
			ended = fmt.Sprintf("; the server ended %d, median after %s", n, round(r.State.EndedMedian))
		}
		p("held", "%d of %d still open at the end of the hold%s; server's first answer: %s", r.State.Open, r.State.Held, ended, tally(r.State.Answers))
	}
	p("server RSS", "before %s, peak while held %s (%s), end of hold %s, after release %s",
		mbs(r.Before.RSS), mbs(r.Peak.RSS), growth(r.Before.RSS, r.Peak.RSS), mbs(r.End.RSS), mbs(r.After.RSS))
	p("Go heap", "before %s, peak while held %s (%s), end of hold %s, after release %s",
		mbs(r.Before.Heap), mbs(r.Peak.Heap), growth(r.Before.Heap, r.Peak.Heap), mbs(r.End.Heap), mbs(r.After.Heap))
	p("open fds", "before %s, peak %s, end of hold %s, after %s", num(r.Before.FDs), num(r.Peak.FDs), num(r.End.FDs), num(r.After.FDs))
	unanswered := ""
	if r.AdminMisses > 0 {
		unanswered = fmt.Sprintf(" (the admin listener did not answer %d of %d samples while held)", r.AdminMisses, r.Samples)
	}
	p("goroutines", "before %s, peak %s, end of hold %s, after %s%s", num(r.Before.Goroutines), num(r.Peak.Goroutines), num(r.End.Goroutines), num(r.After.Goroutines), unanswered)
	if r.Before.LogBytes >= 0 && r.After.LogBytes >= 0 {
		p("server log", "+%.1f KB", float64(r.After.LogBytes-r.Before.LogBytes)/1024)
	}
	c := r.Canary
	p("REST", "new connection while held: %s; canary PATCHes: %d ok, %d failed%s, p50 %s, max %s",
		r.REST, c.Patches, c.Errors, firstErr(c.FirstError), round(c.PatchP50), round(c.PatchMax))
	p("socket.io", "new client (connect + join) while held: %s", r.SocketIO)
	missed := "none missed"
	if len(c.Missed) > 0 {
		missed = fmt.Sprintf("MISSED %d (slot versions %s)", len(c.Missed), versions(c.Missed))
	}
	p("canary", "%d of %d events received (seq %d..%d), %s, %d disconnects", c.Received, c.Patches, c.SeqFirst, c.SeqLast, missed, c.Disconnects)
	for i, t := range r.Targets {
		k := ""
		if i == 0 {
			k = "targets"
		}
		p(k, "%s: %s (%s)", t.Name, verdict(t.Met), t.Figure)
	}
	tw.Flush()
}

// WriteSummary prints every report as one Markdown table, ready for
// docs/security.md.
func WriteSummary(w io.Writer, reports []Report, when time.Time) {
	fmt.Fprintf(w, "\nSummary (%s)\n\n", when.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintln(w, "| scenario | row | server RSS MB: before → peak held → after | Go heap MB: before → peak | fds: before → peak → after | goroutines: before → peak → after | attack conns open at end of hold | REST, new socket.io client while held | canary | targets |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range reports {
		if r.Skipped != "" {
			fmt.Fprintf(w, "| %s | %s | skipped: %s | | | | | | | |\n", r.Scenario, r.Row, r.Skipped)
			continue
		}
		open := "-"
		if r.State.Held > 0 {
			open = fmt.Sprintf("%d / %d", r.State.Open, r.State.Held)
		}
		var ts []string
		for _, t := range r.Targets {
			ts = append(ts, fmt.Sprintf("%s %s", short(t.Name), verdict(t.Met)))
		}
		c := r.Canary
		canary := fmt.Sprintf("%d/%d", c.Received, c.Patches)
		if len(c.Missed) > 0 {
			canary += fmt.Sprintf(", **%d missed**", len(c.Missed))
		}
		fmt.Fprintf(w, "| %s | %s | %s → %s (%s) → %s | %s → %s | %s → %s → %s | %s → %s → %s | %s | %s; %s | %s | %s |\n",
			r.Scenario, r.Row,
			mbn(r.Before.RSS), mbn(r.Peak.RSS), growth(r.Before.RSS, r.Peak.RSS), mbn(r.After.RSS),
			mbn(r.Before.Heap), mbn(r.Peak.Heap),
			num(r.Before.FDs), num(r.Peak.FDs), num(r.After.FDs),
			num(r.Before.Goroutines), num(r.Peak.Goroutines), num(r.After.Goroutines),
			open, r.REST, r.SocketIO, canary, strings.Join(ts, "; "))
	}
}

// Missed counts the targets missed over all reports.
func Missed(reports []Report) int {
	n := 0
	for _, r := range reports {
		for _, t := range r.Targets {
			if !t.Met {
				n++
			}
		}
	}
	return n
}

func short(target string) string {
	switch {
	case strings.HasPrefix(target, "RSS growth"):
		return "RSS ≤ 50 MB"
	case strings.HasPrefix(target, "Go heap growth"):
		return "heap ≤ 50 MB"
	case strings.HasPrefix(target, "REST served"):
		return "REST ≤ 15 s"
	case strings.HasPrefix(target, "new socket.io"):
		return "new client ≤ 15 s"
	case strings.HasPrefix(target, "canary"):
		return "canary"
	}
	return target
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

func tally(m map[string]int) string {
	if len(m) == 0 {
		return "nothing"
	}
	if len(m) == 1 {
		for k, v := range m {
			if v == 1 {
				return k
			}
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d× %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

func mbs(b int64) string {
	if b < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MB", float64(b)/MB)
}

func mbn(b int64) string {
	if b < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", float64(b)/MB)
}

func growth(before, peak int64) string {
	if before < 0 || peak < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f MB", float64(peak-before)/MB)
}

func num(n int) string {
	if n < 0 {
		return "n/a"
	}
	return fmt.Sprint(n)
}

func firstErr(s string) string {
	if s == "" {
		return ""
	}
	return " (first: " + s + ")"
}

func versions(v []int64) string {
	var parts []string
	for i, x := range v {
		if i == 8 {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, fmt.Sprint(x))
	}
	return strings.Join(parts, ", ")
}
