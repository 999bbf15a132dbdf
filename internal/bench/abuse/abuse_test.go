package abuse

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/admin"
	"github.com/eventide/realtime/internal/ws"
)

// fakeServer is the smallest server the tool can attack: /healthz, the
// slot routes of the canary, and a Socket.IO v5 endpoint over WebSocket
// where every PATCH becomes availabilityUpdated to the room. drop makes it
// skip the event of that slot version.
type fakeServer struct {
	*httptest.Server
	mu      sync.Mutex
	version int64
	conns   []*ws.Conn
	drop    int64
}

func newFakeServer(t *testing.T, drop int64) *fakeServer {
	t.Helper()
	f := &fakeServer{drop: drop}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /api/v1/providers/{id}/slots", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"providerId":"`+r.PathValue("id")+`","slots":[{"id":7}]}`)
	})
	mux.HandleFunc("PATCH /api/v1/providers/{id}/slots/{slot}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		f.version++
		v := f.version
		conns := append([]*ws.Conn(nil), f.conns...)
		f.mu.Unlock()
		if v != f.drop {
			ev := `42["availabilityUpdated",{"action":"updated","seq":` + strconv.FormatInt(v+1, 10) + `,"slot":{"id":7,"version":` + strconv.FormatInt(v, 10) + `}}`
			if v%2 == 0 {
				// As eventide sends it with connection-state recovery on:
				// the event's offset as its last argument.
				ev += `,"1764720000000-` + strconv.FormatInt(v, 10) + `"`
			}
			ev += "]"
			for _, c := range conns {
				_ = c.WriteMessage(ws.OpText, []byte(ev))
			}
		}
		_, _ = io.WriteString(w, `{"id":7,"version":`+strconv.FormatInt(v, 10)+`}`)
	})
	mux.HandleFunc("/socket.io/", func(w http.ResponseWriter, r *http.Request) {
		c, err := ws.Upgrade(w, r, ws.UpgradeOptions{})
		if err != nil {
			return
		}
		go f.serveSIO(c)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.conns {
			c.Close()
		}
	})
	return f
}

func (f *fakeServer) serveSIO(c *ws.Conn) {
	if c.WriteMessage(ws.OpText, []byte(`0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)) != nil {
		return
	}
	for {
		_, p, err := c.ReadMessage(1 << 20)
		if err != nil {
			c.Close()
			return
		}
		switch msg := string(p); {
		case strings.HasPrefix(msg, `40{"token":"tok"}`):
			_ = c.WriteMessage(ws.OpText, []byte(`40{"sid":"s"}`))
		case strings.HasPrefix(msg, "40"):
			_ = c.WriteMessage(ws.OpText, []byte(`44{"message":"unauthorized"}`))
		case strings.HasPrefix(msg, `42["joinRoom"`):
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			_ = c.WriteMessage(ws.OpText, []byte(`42["joinedRoom",{"room":"provider-abuse-canary"}]`))
		}
	}
}

// waitFor polls cond; the deadline only guards against a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	guard := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(guard) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCanaryNamesTheMissedEvent(t *testing.T) {
	f := newFakeServer(t, 3)
	r := &rest{base: f.URL, token: "tok", client: http.DefaultClient}
	c, err := startCanary(context.Background(), r, f.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	d := &driver{c: c, r: r, stop: make(chan struct{}), done: make(chan struct{})}
	close(d.done) // driven by hand below, not by the ticker
	for n := range 5 {
		d.patch(n)
	}
	waitFor(t, "versions 1, 2, 4 and 5 at the canary", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.got) == 4
	})
	res := d.finish(0)
	if res.Patches != 5 || res.Received != 4 || len(res.Missed) != 1 || res.Missed[0] != 3 || res.SeqFirst != 2 || res.SeqLast != 6 {
		t.Fatalf("canary result %+v, want 4 of 5 received, version 3 missed, seq 2..6", res)
	}
}

func TestRunOneScenarioAgainstAServer(t *testing.T) {
	f := newFakeServer(t, 0)
	var out, progress bytes.Buffer
	reports, err := Run(context.Background(), Options{
		URL: f.URL, Token: "tok", Scenarios: []string{"idle-http"}, Conns: 5,
		Hold: time.Millisecond, After: time.Millisecond, ProbeTimeout: 2 * time.Minute,
	}, &out, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if len(reports) != 1 {
		t.Fatalf("%d reports", len(reports))
	}
	r := reports[0]
	// Whether the watchers have read the 200s yet depends on the machine's
	// load; TestHolderSeesWhatTheServerEnded checks the answers exactly.
	if r.State.Held != 5 || r.State.Open != 5 || r.State.Answers["HTTP 200"]+r.State.Answers["nothing"] != 5 {
		t.Errorf("held connections: %+v", r.State)
	}
	if !r.REST.served() || !r.SocketIO.served() {
		t.Errorf("probes not served: REST %v, socket.io %v", r.REST, r.SocketIO)
	}
	if r.Canary.Patches == 0 || len(r.Canary.Missed) != 0 {
		t.Errorf("canary %+v", r.Canary)
	}
	// This test's process is the server: its RSS and fds are read.
	if r.Before.RSS <= 0 || r.Peak.FDs <= 0 || r.Before.Goroutines != -1 {
		t.Errorf("figures %+v / %+v", r.Before, r.Peak)
	}
	for _, want := range []string{"== idle-http (row 3)", "5 of 5 still open", "canary misses no event: met"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunRefusesWhatItMustNotDo(t *testing.T) {
	for _, o := range []Options{
		{URL: "http://192.0.2.1:8080"},
		{URL: "http://example.com"},
		{URL: "http://127.0.0.1:1", RawURL: "ws://10.0.0.1:7788/"},
		{URL: "http://127.0.0.1:1", Scenarios: []string{"nope"}},
		{URL: "http://127.0.0.1:1", Conns: MaxConns + 1},
		{URL: "http://127.0.0.1:1", Rooms: MaxRooms + 1},
		{URL: "http://127.0.0.1:1", Hold: MaxHold + time.Second},
		{URL: "http://127.0.0.1:1", Sources: []string{"10.0.0.1"}},
	} {
		if _, err := Run(context.Background(), o, io.Discard, io.Discard); err == nil {
			t.Errorf("Run(%+v) accepted", o)
		}
	}
	// fd-limit needs a server of its own: without --spawn it is skipped.
	var out bytes.Buffer
	reports, err := Run(context.Background(), Options{URL: "http://127.0.0.1:1", Scenarios: []string{"fd-limit"}}, &out, io.Discard)
	if err != nil || len(reports) != 1 || !strings.Contains(reports[0].Skipped, "--spawn") {
		t.Fatalf("fd-limit without --spawn: %+v, %v", reports, err)
	}
}

func TestHolderSeesWhatTheServerEnded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The server answers the first two connections and closes them, sends
	// a close frame 1009 on the third, and keeps the last two.
	var (
		mu   sync.Mutex
		kept []net.Conn
	)
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range kept {
			c.Close()
		}
	}()
	go func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			switch {
			case i < 2:
				_, _ = io.WriteString(c, "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n")
				c.Close()
			case i == 2:
				_, _ = c.Write([]byte{0x88, 2, 0x03, 0xf1}) // close 1009
				c.Close()
			default:
				mu.Lock()
				kept = append(kept, c)
				mu.Unlock()
			}
		}
	}()
	h := newHolder()
	for i := range 5 {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		kind := "http"
		if i == 2 {
			kind = "ws"
		}
		// One at a time, so that connection i is the server's i-th.
		h.hold(nc, bufio.NewReader(nc), kind)
		if i < 3 {
			<-h.conns[i].gone
		}
	}
	st := h.state()
	if st.Held != 5 || st.Open != 2 || st.Answers["HTTP 431"] != 2 || st.Answers["close 1009"] != 1 || st.Answers["nothing"] != 2 || st.EndedMedian <= 0 {
		t.Fatalf("state %+v", st)
	}
	// The tool leaving is not the server ending them.
	h.releaseAll()
	if st := h.state(); st.Open != 2 {
		t.Fatalf("after release: %+v", st)
	}
}

func TestFrameHeader(t *testing.T) {
	for _, c := range []struct {
		n    int64
		size int
	}{{10, 6}, {300, 8}, {1_000_000, 14}} {
		b := frameHeader(0x1, c.n)
		if len(b) != c.size || b[0] != 0x81 || b[1]&0x80 == 0 {
			t.Fatalf("frameHeader(%d) = % x", c.n, b)
		}
		var got int64
		switch b[1] & 0x7f {
		case 126:
			got = int64(binary.BigEndian.Uint16(b[2:]))
		case 127:
			got = int64(binary.BigEndian.Uint64(b[2:]))
		default:
			got = int64(b[1] & 0x7f)
		}
		if got != c.n {
			t.Errorf("frameHeader(%d) announces %d", c.n, got)
		}
	}
}

func TestServerFigures(t *testing.T) {
	if n := parseGoroutineTotal("goroutine profile: total 1234\n"); n != 1234 {
		t.Errorf("parseGoroutineTotal = %d", n)
	}
	if n := parseGoroutineTotal("<html>"); n != -1 {
		t.Errorf("parseGoroutineTotal(html) = %d", n)
	}
	// Against a real admin listener.
	adm, err := admin.Listen("127.0.0.1:0", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Shutdown(context.Background())
	base := "http://" + adm.Addr()
	if n := goroutines(context.Background(), base); n <= 0 {
		t.Errorf("goroutines = %d", n)
	}
	if n := heapAlloc(context.Background(), base); n <= 0 {
		t.Errorf("heapAlloc = %d", n)
	}
	if n := goroutines(context.Background(), "http://127.0.0.1:1"); n != -1 {
		t.Errorf("goroutines of nothing = %d", n)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if pid := listenerPID(port); pid != os.Getpid() {
		t.Errorf("listenerPID(%s) = %d, want this process %d", port, pid, os.Getpid())
	}
	if n := openFileLimit(os.Getpid()); n <= 0 {
		t.Errorf("openFileLimit = %d", n)
	}
}

func TestTargetsAndSummary(t *testing.T) {
	growth := Scenarios[0]
	fd := Scenarios[4]
	if !fd.FDLimit || growth.GrowthTarget != 50*MB {
		t.Fatal("scenario table changed: update this test")
	}
	r := Report{Scenario: "post-stall", Row: "1", Before: Sample{RSS: 10 * MB, Heap: -1}, Peak: Sample{RSS: 70 * MB, Heap: -1}, Canary: CanaryResult{Patches: 3, Received: 3}}
	r.Targets = targets(growth, &r)
	if len(r.Targets) != 2 || r.Targets[0].Met || r.Targets[0].Figure != "+60.0 MB" || !r.Targets[1].Met {
		t.Errorf("+60 MB: %+v", r.Targets)
	}
	// With the heap read, it is judged too: allocated but untouched memory
	// is not in RSS.
	h := r
	h.Before.Heap, h.Peak.Heap = 5*MB, 505*MB
	if ts := targets(growth, &h); len(ts) != 3 || ts[1].Met || ts[1].Figure != "+500.0 MB" {
		t.Errorf("heap +500 MB: %+v", ts)
	}
	r.Peak.RSS = 60 * MB
	if ts := targets(growth, &r); !ts[0].Met {
		t.Errorf("+50 MB: %+v", ts)
	}
	r.Peak.RSS = 70 * MB
	f := Report{Scenario: "fd-limit", Row: "3", REST: Probe{Took: 16 * time.Second}, SocketIO: Probe{Took: time.Second},
		Canary: CanaryResult{Patches: 3, Received: 2, Missed: []int64{4}}}
	f.Targets = targets(fd, &f)
	if len(f.Targets) != 3 || f.Targets[0].Met || !f.Targets[1].Met || f.Targets[2].Met {
		t.Errorf("fd-limit: %+v", f.Targets)
	}
	if Missed([]Report{r, f}) != 3 {
		t.Errorf("Missed = %d", Missed([]Report{r, f}))
	}
	var out bytes.Buffer
	WriteSummary(&out, []Report{r, f, {Scenario: "x", Skipped: "needs --spawn"}}, time.Unix(0, 0))
	for _, want := range []string{"| post-stall | 1 | 10 → 70 (+60.0 MB)", "RSS ≤ 50 MB MISSED", "REST ≤ 15 s MISSED", "**1 missed**", "skipped: needs --spawn"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
