package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcSample is one reading of a server process's counters.
type ProcSample struct {
	CPUSeconds float64 // user + system time so far (10 ms ticks)
	RSSBytes   int64   // resident set size
	// Threads maps each live thread to its nanoseconds on CPU
	// (/proc/<pid>/task/<tid>/schedstat): exact, but a thread that exits
	// takes its time with it, so CPUBetween uses it only when none did.
	Threads map[int]int64
}

// CPUBetween is the server's CPU seconds from a to b: the per-thread
// nanosecond counters when every thread of a is still alive in b, else
// the 10 ms ticks of /proc/<pid>/stat.
func CPUBetween(a, b ProcSample) float64 {
	if len(a.Threads) == 0 || len(b.Threads) == 0 {
		return b.CPUSeconds - a.CPUSeconds
	}
	var ns int64
	for tid, t0 := range a.Threads {
		t1, ok := b.Threads[tid]
		if !ok {
			return b.CPUSeconds - a.CPUSeconds
		}
		ns += t1 - t0
	}
	for tid, t1 := range b.Threads {
		if _, ok := a.Threads[tid]; !ok {
			ns += t1 // started within the window
		}
	}
	return float64(ns) / 1e9
}

// readThreads reads the nanoseconds on CPU of every thread of pid.
func readThreads(pid int) map[int]int64 {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := make(map[int]int64, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			continue // exited meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil
		}
		out[tid] = ns
	}
	return out
}

// ReadProc reads the CPU time and RSS of pid from /proc. CPU has the
// kernel's 10 ms resolution, so runs are sized to use far more than that.
func ReadProc(pid int) (ProcSample, error) {
	var s ProcSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read server stat: %w", err)
	}
	// The command name is in parentheses and may hold spaces: split after it.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	// f[0] is field 3 (state), so utime (14) and stime (15) are f[11], f[12].
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("parse /proc/%d/stat: bad utime/stime", pid)
	}
	s.CPUSeconds = float64(ut+st) / clockTicks
	s.Threads = readThreads(pid)

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read server status: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return s, fmt.Errorf("parse VmRSS %q: %w", v, err)
			}
			s.RSSBytes = kb * 1024
		}
	}
	return s, nil
}

// sampleDB reads the CPU of each database process Options.DBPIDs lists.
func sampleDB(ctx context.Context, o Options, logf func(string, ...any)) map[int]ProcSample {
	if o.DBPIDs == nil {
		return nil
	}
	pids, err := o.DBPIDs(ctx)
	if err != nil {
		logf("database processes: %v", err)
		return nil
	}
	out := make(map[int]ProcSample, len(pids))
	for _, pid := range pids {
		if s, err := ReadProc(pid); err == nil {
			out[pid] = s
		}
	}
	return out
}

// dbCPUBetween is the database processes' CPU seconds from a to b: the
// change for those in both, everything for those that started within the
// window. One that ended within it takes its time with it (a pool rarely
// closes connections within a run).
func dbCPUBetween(a, b map[int]ProcSample) float64 {
	var sum float64
	for pid, s1 := range b {
		if s0, ok := a[pid]; ok {
			sum += CPUBetween(s0, s1)
		} else {
			sum += s1.CPUSeconds
		}
	}
	return sum
}
