package abuse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventide/realtime/internal/bench"
)

// Sample is one reading of the server's figures; -1 means not available.
type Sample struct {
	RSS        int64 // bytes
	Heap       int64 // Go heap in use (HeapAlloc), bytes: counts what is allocated but not yet touched
	FDs        int
	Goroutines int
	LogBytes   int64 // size of the spawned server's log
}

// peak keeps the largest of each figure.
func (s Sample) peak(o Sample) Sample {
	s.RSS = max(s.RSS, o.RSS)
	s.Heap = max(s.Heap, o.Heap)
	s.FDs = max(s.FDs, o.FDs)
	s.Goroutines = max(s.Goroutines, o.Goroutines)
	s.LogBytes = max(s.LogBytes, o.LogBytes)
	return s
}

// server is the process under test as the tool reaches it.
type server struct {
	url     string // http://127.x.y.z:port
	rawURL  string // plain WebSocket, ws://...
	pid     int    // 0: figures from /proc are not available
	admin   string // admin listener base URL; "" when not reachable
	nofile  int    // the process's open-file limit, 0 unknown
	logPath string // the spawned server's log; "" otherwise
	note    string // why a figure is missing

	http *http.Client
}

func newServer(url, rawURL, admin string, pid int) (*server, error) {
	u, err := bench.CheckLoopback(url)
	if err != nil {
		return nil, err
	}
	if rawURL == "" {
		rawURL = "ws://" + u.Host + "/ws"
	}
	if err := checkLoopbackWS(rawURL); err != nil {
		return nil, err
	}
	s := &server{
		url:    strings.TrimSuffix(url, "/"),
		rawURL: rawURL,
		pid:    pid,
		http:   &http.Client{Timeout: 5 * time.Second},
	}
	if s.pid == 0 {
		s.pid = listenerPID(u.Port())
		if s.pid == 0 {
			s.note = "server process not found (pass --pid): no RSS or fds"
		}
	}
	if admin != "" {
		a, err := bench.CheckLoopback(admin)
		if err != nil {
			return nil, fmt.Errorf("--admin: %w", err)
		}
		// The default admin address may belong to another server on this
		// machine: count goroutines only when it is this one's.
		if apid := listenerPID(a.Port()); s.pid != 0 && apid == s.pid {
			s.admin = strings.TrimSuffix(admin, "/")
		} else {
			s.note = strings.TrimPrefix(s.note+"; ", "; ") + "admin listener " + admin + " is not the server's: no goroutine counts"
		}
	}
	s.nofile = openFileLimit(s.pid)
	return s, nil
}

func checkLoopbackWS(raw string) error {
	if !strings.HasPrefix(raw, "ws://") {
		return fmt.Errorf("--raw-url must be ws://127.x.y.z:port/path, not %q", raw)
	}
	_, err := bench.CheckLoopback("http://" + strings.TrimPrefix(raw, "ws://"))
	return err
}

// sample reads the server's figures now.
func (s *server) sample(ctx context.Context) Sample {
	out := Sample{RSS: -1, Heap: -1, FDs: -1, Goroutines: -1, LogBytes: -1}
	if s.pid > 0 {
		if p, err := bench.ReadProc(s.pid); err == nil {
			out.RSS = p.RSSBytes
		}
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.pid)); err == nil {
			out.FDs = len(ents)
		}
	}
	if s.admin != "" {
		out.Goroutines = goroutines(ctx, s.admin)
		out.Heap = heapAlloc(ctx, s.admin)
	}
	if s.logPath != "" {
		if fi, err := os.Stat(s.logPath); err == nil {
			out.LogBytes = fi.Size()
		}
	}
	return out
}

// goroutines reads the count from the admin listener's goroutine profile,
// whose first line is "goroutine profile: total N"; -1 when unreachable
// (a server out of descriptors cannot accept the request either).
func goroutines(ctx context.Context, admin string) int {
	b := adminGet(ctx, admin+"/debug/pprof/goroutine?debug=1", 256)
	line, _, _ := strings.Cut(string(b), "\n")
	return parseGoroutineTotal(line)
}

// heapAlloc reads runtime.MemStats.HeapAlloc from the end of the admin
// listener's heap profile ("# HeapAlloc = N"); -1 when unreachable.
func heapAlloc(ctx context.Context, admin string) int64 {
	return parseHeapAlloc(adminGet(ctx, admin+"/debug/pprof/heap?debug=1", 8<<20))
}

func parseHeapAlloc(profile []byte) int64 {
	i := bytes.LastIndex(profile, []byte("\n# HeapAlloc = "))
	if i < 0 {
		return -1
	}
	rest := profile[i+len("\n# HeapAlloc = "):]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	n, err := strconv.ParseInt(string(rest), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// adminGet fetches up to limit bytes of url, on a connection of its own
// (a kept-alive one would hide that the server cannot accept); nil on any
// failure.
func adminGet(ctx context.Context, url string, limit int64) []byte {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, limit))
	return b
}

func parseGoroutineTotal(line string) int {
	v, ok := strings.CutPrefix(strings.TrimSpace(line), "goroutine profile: total ")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

// listenerPID finds the process listening on 127.0.0.0/8 or any address at
// port, from /proc/net/tcp{,6} and the processes' descriptors (only this
// user's processes are readable); 0 when not found.
func listenerPID(port string) int {
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0
	}
	want := fmt.Sprintf(":%04X", p)
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			// sl local_address rem_address st ... inode (field 9)
			if len(fs) > 9 && fs[3] == "0A" && strings.HasSuffix(fs[1], want) {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	procs, _ := os.ReadDir("/proc")
	for _, pe := range procs {
		pid, err := strconv.Atoi(pe.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && inodes[l] {
				return pid
			}
		}
	}
	return 0
}

// openFileLimit is the soft "Max open files" of pid; 0 when unknown.
func openFileLimit(pid int) int {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if fs := strings.Fields(rest); len(fs) > 0 {
				n, _ := strconv.Atoi(fs[0])
				return n
			}
		}
	}
	return 0
}

// spawned is a server this tool started: `BIN serve` on free loopback
// ports with a fresh data directory, in dev mode (tokens come from
// /api/v1/dev/token), logging at info into a file whose growth is reported.
type spawned struct {
	*server
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
}

// spawn starts bin; nofile > 0 runs it under `ulimit -n nofile`.
func spawn(ctx context.Context, bin string, nofile int) (*spawned, error) {
	dir, err := os.MkdirTemp("", "eventide-abuse-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	addr, adminAddr := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	args := []string{"serve", "--addr", addr, "--raw-addr", "", "--env", "dev", "--log-level", "info",
		"--data-dir", dir, "--database-url", filepath.Join(dir, "eventide.db"), "--web-dir", filepath.Join(dir, "no-web")}
	hasAdmin := supportsFlag(bin, "admin-addr")
	if hasAdmin {
		args = append(args, "--admin-addr", adminAddr)
	}
	if supportsFlag(bin, "rest-write-rate") {
		// The setup creates thousands of slots with one token: not an
		// attack, and no row of the table is about REST writes.
		args = append(args, "--rest-write-rate", "0")
	}
	logPath := filepath.Join(dir, "server.log")
	logf, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	var cmd *exec.Cmd
	if nofile > 0 {
		// `ulimit -n` sets the soft and the hard limit, so the Go runtime
		// cannot raise it back; exec keeps the pid.
		cmd = exec.Command("/bin/sh", append([]string{"-c", `ulimit -n "$1" || exit 97; shift; exec "$@"`, "sh", strconv.Itoa(nofile), bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	// Nothing of the developer's EVENTIDE_* environment changes the server.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	sp := &spawned{cmd: cmd, dir: dir, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(sp.done) }()

	url := "http://" + addr
	if err := waitHealthy(ctx, url, sp.done); err != nil {
		tail := logTail(logPath, 2000)
		sp.stop()
		return nil, fmt.Errorf("spawned server: %w\n%s", err, tail)
	}
	admin := ""
	if hasAdmin {
		admin = "http://" + adminAddr
	}
	srv, err := newServer(url, "", admin, cmd.Process.Pid)
	if err != nil {
		sp.stop()
		return nil, err
	}
	if !hasAdmin {
		srv.note = bin + " has no --admin-addr: no goroutine counts"
	}
	srv.logPath = logPath
	sp.server = srv
	return sp, nil
}

// stop ends the server (SIGTERM, then SIGKILL after 15 s) and removes its
// data directory.
func (sp *spawned) stop() {
	_ = sp.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-sp.done:
	case <-time.After(15 * time.Second):
		_ = sp.cmd.Process.Kill()
		<-sp.done
	}
	os.RemoveAll(sp.dir)
}

func waitHealthy(ctx context.Context, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("exited before serving")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("/healthz not answering after 30 s")
		}
	}
}

// supportsFlag reports whether `bin serve -h` lists flag.
func supportsFlag(bin, flag string) bool {
	out, _ := exec.Command(bin, "serve", "-h").CombinedOutput()
	return strings.Contains(string(out), "-"+flag)
}

func freePorts(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	return out, nil
}

func logTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
