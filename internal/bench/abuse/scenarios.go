package abuse

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventide/realtime/internal/bench"
	"github.com/eventide/realtime/internal/ws"
)

// Scenario is one attack of issue 9's table.
type Scenario struct {
	Name string
	Row  string // the table row
	// What the attacker does, for the printout.
	What func(o *Options) string
	// GrowthTarget is the most the server's RSS may grow while the attack
	// is held (rows 1-5: unauthenticated clients); 0: no target.
	GrowthTarget int64
	// FDLimit scenarios need their own server under a descriptor limit
	// (Options.Spawn) and have the 15 s service target.
	FDLimit bool
	// setup runs before the "before" sample (e.g. creating slots).
	setup func(ctx context.Context, e *env) error
	// attack opens and keeps the connections; it returns once they are
	// established (or refused).
	attack func(ctx context.Context, e *env, h *holder)
}

// env is what an attack needs.
type env struct {
	o      *Options
	srv    *server
	d      *dialer
	rest   *rest
	admin  string // admin token
	all    string // a client token for providers "*"
	canary *canary
	logf   func(format string, a ...any)
	shared sharedBufs
}

type sharedBufs struct {
	once   sync.Once
	filler []byte // read-only padding written by many connections
}

func (e *env) filler(n int) []byte {
	e.shared.once.Do(func() { e.shared.filler = bytes.Repeat([]byte("a"), 2<<20) })
	return e.shared.filler[:min(n, len(e.shared.filler))]
}

// MB is a megabyte (2^20 bytes) of RSS.
const MB = 1 << 20

// Scenarios are every attack, in the order.
var Scenarios = []Scenario{
	{
		Name: "post-stall", Row: "1", GrowthTarget: 50 * MB,
		What: func(o *Options) string {
			return fmt.Sprintf("%d polling sessions each POST with Content-Length %d, then send nothing", o.Conns, o.PostBytes)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.stalledPost(ctx, h, false) })
		},
	},
	{
		Name: "post-partial", Row: "1", GrowthTarget: 50 * MB,
		What: func(o *Options) string {
			return fmt.Sprintf("%d polling sessions each POST with Content-Length %d, then send all but one byte", o.Conns, o.PostBytes)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.stalledPost(ctx, h, true) })
		},
	},
	{
		Name: "big-header", Row: "2", GrowthTarget: 50 * MB,
		What: func(o *Options) string {
			return fmt.Sprintf("%d polling handshakes with a %d-byte header (as much as the server takes), connection closed at once", o.Conns, o.HeaderBytes)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.bigHeader(ctx, h) })
		},
	},
	{
		Name: "idle-http", Row: "3", GrowthTarget: 50 * MB,
		What: func(o *Options) string {
			return fmt.Sprintf("%d connections: one GET /healthz each, then idle", o.Conns)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.idleHTTP(ctx, h) })
		},
	},
	{
		Name: "fd-limit", Row: "3", FDLimit: true,
		What: func(o *Options) string {
			return fmt.Sprintf("%d connections: one GET /healthz each, then idle, against a server under ulimit -n %d", o.FDConns, o.FDLimit)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.FDConns, h, func(ctx context.Context) { e.idleHTTP(ctx, h) })
		},
	},
	{
		Name: "ws-frame", Row: "4", GrowthTarget: 50 * MB,
		What: func(o *Options) string {
			return fmt.Sprintf("%d Socket.IO WebSockets each send a frame header announcing the server's maxPayload (1 MB), no payload, no CONNECT", o.Conns)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.wsFrame(ctx, h) })
		},
	},
	{
		Name: "rawws-idle", Row: "5", GrowthTarget: 50 * MB,
		What: func(o *Options) string {
			return fmt.Sprintf("%d plain WebSockets, idle: nothing sent, pings unanswered", o.Conns)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.rawWS(ctx, h, false) })
		},
	},
	{
		Name: "rawws-half", Row: "5", GrowthTarget: 50 * MB,
		What: func(o *Options) string {
			return fmt.Sprintf("%d plain WebSockets each send half a frame (%d of %d bytes)", o.Conns, halfFrame/2, halfFrame)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.rawWS(ctx, h, true) })
		},
	},
	{
		Name: "slot-reads", Row: "6",
		What: func(o *Options) string {
			return fmt.Sprintf("%d concurrent readers list the slots of a provider with %d slots, over and over", o.Readers, o.Slots)
		},
		setup:  func(ctx context.Context, e *env) error { return e.createSlots(ctx) },
		attack: func(ctx context.Context, e *env, h *holder) { e.slotReads(ctx, h) },
	},
	{
		Name: "auth-payload", Row: "7",
		What: func(o *Options) string {
			return fmt.Sprintf("%d Socket.IO clients with a valid token CONNECT with a %d-byte auth object and stay", o.Conns, o.AuthBytes)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.authPayload(ctx, h) })
		},
	},
	{
		Name: "rooms", Row: "7",
		What: func(o *Options) string {
			return fmt.Sprintf(`one client with providers "*" joins %d rooms and stays`, o.Rooms)
		},
		attack: func(ctx context.Context, e *env, h *holder) { e.manyRooms(ctx, h) },
	},
}

// halfFrame is the frame rawws-half announces; it sends half of it.
const halfFrame = 4096

// parallel runs n attempts, DialConcurrency at a time.
func (e *env) parallel(ctx context.Context, n int, h *holder, one func(ctx context.Context)) {
	sem := make(chan struct{}, e.o.DialConcurrency)
	var wg sync.WaitGroup
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			one(ctx)
		}()
		if (i+1)%1000 == 0 {
			e.logf("  %d/%d attempts", i+1, n)
		}
	}
	wg.Wait()
}

// hold registers nc as a held connection watched through br.
func (h *holder) hold(nc net.Conn, br *bufio.Reader, kind string) {
	c := newHeld(func() { nc.Close() })
	h.add(c)
	if kind == "ws" {
		h.watchWS(c, br)
	} else {
		h.watchHTTP(c, br)
	}
}

// pollingHandshake opens an Engine.IO v4 polling session on nc and returns
// its sid.
func pollingHandshake(nc net.Conn, br *bufio.Reader, host string) (string, error) {
	if _, err := io.WriteString(nc, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK || len(body) == 0 || body[0] != '0' {
		return "", fmt.Errorf("handshake answered %d", resp.StatusCode)
	}
	var open struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(body[1:], &open); err != nil || open.SID == "" {
		return "", fmt.Errorf("handshake: no sid in %.80q", body)
	}
	return open.SID, nil
}

// stalledPost: row 1. A polling session POSTs a body it never finishes.
func (e *env) stalledPost(ctx context.Context, h *holder, partial bool) {
	nc, err := e.d.dial(ctx)
	if err != nil {
		h.fail("dial", err)
		return
	}
	br := bufio.NewReader(nc)
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	sid, err := pollingHandshake(nc, br, e.d.addr)
	if err != nil {
		nc.Close()
		h.fail("handshake", err)
		return
	}
	hdr := "POST /socket.io/?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: " + e.d.addr +
		"\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: " + strconv.Itoa(e.o.PostBytes) + "\r\n\r\n"
	if _, err := io.WriteString(nc, hdr); err != nil {
		nc.Close()
		h.fail("POST headers", err)
		return
	}
	if partial {
		// The body but its last byte; the server reads it while we write.
		if n, err := nc.Write(e.filler(e.o.PostBytes - 1)); err != nil {
			h.count(fmt.Sprintf("body stopped after %d KiB: %s", n>>10, errClass(err)))
			nc.Close()
			return
		}
	}
	_ = nc.SetDeadline(time.Time{})
	if partial {
		h.count("POST sent, all but 1 byte of the body")
	} else {
		h.count("POST headers sent, no body")
	}
	h.hold(nc, br, "http")
}

// bigHeader: row 2. A polling handshake with a huge header, written in
// chunks so that what the server took before refusing is known; the
// connection is closed as soon as the answer is read.
func (e *env) bigHeader(ctx context.Context, h *holder) {
	nc, err := e.d.dial(ctx)
	if err != nil {
		h.fail("dial", err)
		return
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(nc)
	// Read the answer while writing: a server that refuses early answers
	// before the header is complete.
	answer := make(chan string, 1)
	go func() {
		line, err := br.ReadString('\n')
		if line != "" {
			answer <- statusOf(line)
			return
		}
		answer <- errClass(err)
	}()
	head := "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: " + e.d.addr + "\r\nX-Abuse-Pad: "
	written, werr := io.WriteString(nc, head)
	pad := e.filler(e.o.HeaderBytes)
	for off := 0; werr == nil && off < len(pad); off += 64 << 10 {
		var n int
		n, werr = nc.Write(pad[off:min(off+64<<10, len(pad))])
		written += n
	}
	if werr == nil {
		var n int
		n, werr = io.WriteString(nc, "\r\n\r\n")
		written += n
	}
	got := <-answer
	if werr != nil {
		h.count(fmt.Sprintf("%s after the server took %d KiB of the header (%s)", got, written>>10, errClass(werr)))
		return
	}
	h.count(fmt.Sprintf("%s, whole %d KiB header sent", got, written>>10))
}

// idleHTTP: row 3. One GET /healthz, then nothing. The answer is read by
// the watcher, so that connections the server has not accepted (out of
// descriptors) are held as well.
func (e *env) idleHTTP(ctx context.Context, h *holder) {
	nc, err := e.d.dial(ctx)
	if err != nil {
		h.fail("dial", err)
		return
	}
	if _, err := io.WriteString(nc, "GET /healthz HTTP/1.1\r\nHost: "+e.d.addr+"\r\n\r\n"); err != nil {
		nc.Close()
		h.fail("GET /healthz", err)
		return
	}
	h.count("GET /healthz sent")
	h.hold(nc, bufio.NewReader(nc), "http")
}

// wsFrame: row 4. A Socket.IO WebSocket sends a frame header announcing
// the largest message the server accepts, and nothing more: no payload, no
// CONNECT.
func (e *env) wsFrame(ctx context.Context, h *holder) {
	nc, err := e.d.dial(ctx)
	if err != nil {
		h.fail("dial", err)
		return
	}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	br, resp, err := upgrade(nc, e.d.addr, "/socket.io/?EIO=4&transport=websocket")
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		if err == nil {
			h.count(fmt.Sprintf("upgrade refused: HTTP %d", resp.StatusCode))
		} else {
			h.fail("upgrade", err)
		}
		return
	}
	// The open packet says how large a message may be.
	announce := int64(1_000_000)
	if op, p, err := readFrame(br, 4096); err == nil && op == 0x1 && len(p) > 1 && p[0] == '0' {
		var open struct {
			MaxPayload int64 `json:"maxPayload"`
		}
		if json.Unmarshal(p[1:], &open) == nil && open.MaxPayload > 0 {
			announce = open.MaxPayload
		}
	}
	if _, err := nc.Write(frameHeader(0x1, announce)); err != nil {
		nc.Close()
		h.fail("frame header", err)
		return
	}
	_ = nc.SetDeadline(time.Time{})
	h.count(fmt.Sprintf("frame header announcing %d bytes sent", announce))
	h.hold(nc, br, "ws")
}

// rawWS: row 5. A plain WebSocket, idle or with half a frame sent.
func (e *env) rawWS(ctx context.Context, h *holder, half bool) {
	host, path := splitWS(e.srv.rawURL)
	nc, err := e.d.dialAddr(ctx, host)
	if err != nil {
		h.fail("dial", err)
		return
	}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	br, resp, err := upgrade(nc, host, path)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		if err == nil {
			h.count(fmt.Sprintf("upgrade refused: HTTP %d", resp.StatusCode))
		} else {
			h.fail("upgrade", err)
		}
		return
	}
	if half {
		frame := append(frameHeader(0x1, halfFrame), e.filler(halfFrame/2)...)
		if _, err := nc.Write(frame); err != nil {
			nc.Close()
			h.fail("half frame", err)
			return
		}
		h.count("half a frame sent")
	} else {
		h.count("upgraded, idle")
	}
	_ = nc.SetDeadline(time.Time{})
	h.hold(nc, br, "ws")
}

func splitWS(raw string) (host, path string) {
	rest := strings.TrimPrefix(raw, "ws://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i], rest[i:]
	}
	return rest, "/"
}

// createSlots gives the slots provider its slots (row 6's setup); slots
// that exist already answer 409.
func (e *env) createSlots(ctx context.Context) error {
	e.logf("  creating up to %d slots for provider %s", e.o.Slots, slotsProvider)
	var next, created, existed, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= e.o.Slots {
					return
				}
				status, _, err := e.rest.createSlot(ctx, slotsProvider, i)
				switch {
				case err == nil && status == http.StatusCreated:
					created.Add(1)
				case err == nil && status == http.StatusConflict:
					existed.Add(1)
				default:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %v", status, err))
				}
				if (i+1)%1000 == 0 {
					e.logf("  %d/%d slots", i+1, e.o.Slots)
				}
			}
		}()
	}
	wg.Wait()
	e.logf("  slots: %d created, %d existed, %d failed %v", created.Load(), existed.Load(), failed.Load(), firstErr.Load())
	if created.Load()+existed.Load() == 0 {
		return fmt.Errorf("no slot could be created: %v", firstErr.Load())
	}
	return ctx.Err()
}

// slotReads: row 6. Readers list the provider's slots over and over until
// released, each on a connection of its own.
func (e *env) slotReads(ctx context.Context, h *holder) {
	tr := &http.Transport{
		MaxIdleConnsPerHost: e.o.Readers,
		DisableCompression:  true,
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return e.d.dial(ctx) },
	}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	stop := make(chan struct{})
	var (
		mu       sync.Mutex
		statuses = map[string]int{}
		lat      []time.Duration
		bytesIn  atomic.Int64
		slots    atomic.Int64
		wg       sync.WaitGroup
	)
	path := e.srv.url + "/api/v1/providers/" + slotsProvider + "/slots"
	for range e.o.Readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first := true; ; first = false {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
				req.Header.Set("Authorization", "Bearer "+e.admin)
				start := time.Now()
				resp, err := client.Do(req)
				var outcome string
				if err != nil {
					outcome = errClass(err)
				} else {
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					bytesIn.Add(n)
					outcome = "HTTP " + strconv.Itoa(resp.StatusCode)
					if first && resp.StatusCode == http.StatusOK && slots.Load() == 0 {
						slots.Store(e.countSlots(ctx))
					}
				}
				d := time.Since(start)
				mu.Lock()
				statuses[outcome]++
				lat = append(lat, d)
				mu.Unlock()
				if err != nil {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
		}()
	}
	h.count(fmt.Sprintf("%d readers started", e.o.Readers))
	h.release = func() {
		close(stop)
		wg.Wait()
		tr.CloseIdleConnections()
		mu.Lock()
		defer mu.Unlock()
		n := len(lat)
		if n == 0 {
			h.note("no read completed")
			return
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		keys := make([]string, 0, len(statuses))
		for k := range statuses {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%d× %s", statuses[k], k))
		}
		h.note("%d reads (%s), %.2f MB per response, %d slots in one response; latency p50 %s, max %s",
			n, strings.Join(parts, ", "), float64(bytesIn.Load())/float64(n)/MB, slots.Load(), round(lat[n/2]), round(lat[n-1]))
	}
}

// countSlots is the number of slots one list response holds.
func (e *env) countSlots(ctx context.Context) int64 {
	ids, err := e.rest.slotIDs(ctx, slotsProvider)
	if err != nil {
		return 0
	}
	return int64(len(ids))
}

// authPayload: row 7. A token holder connects with an oversized auth
// object and stays (answering pings).
func (e *env) authPayload(ctx context.Context, h *holder) {
	pad := e.o.AuthBytes - len(e.admin) - 30
	connect := make([]byte, 0, e.o.AuthBytes+8)
	connect = append(connect, `40{"token":`...)
	connect = strconv.AppendQuote(connect, e.admin)
	connect = append(connect, `,"pad":"`...)
	connect = append(connect, e.filler(max(pad, 0))...)
	connect = append(connect, `"}`...)
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := bench.Dial(dctx, bench.DialConfig{URL: e.srv.url, Connect: connect, Source: e.d.source()})
	if err != nil {
		h.count("refused: " + shortErr(err))
		return
	}
	h.count(fmt.Sprintf("connected with a %d KiB auth object", (len(connect)-2)>>10))
	h.holdSocketIO(c, nil)
}

// holdSocketIO keeps a Socket.IO client alive (answering pings) until the
// server ends it; on, if set, sees every other message.
func (h *holder) holdSocketIO(c *ws.Conn, on func(p []byte)) *held {
	hc := newHeld(func() { c.Close() })
	h.add(hc)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(hc.gone)
		for {
			op, p, err := c.ReadMessage(1 << 20)
			if err != nil {
				h.serverEnded(hc, err)
				return
			}
			if op != ws.OpText || len(p) == 0 {
				continue
			}
			switch {
			case len(p) == 1 && p[0] == '2':
				_ = c.WriteMessage(ws.OpText, bench.Pong)
			case p[0] == '1', bytes.HasPrefix(p, []byte("41")):
				hc.setAnswer(fmt.Sprintf("disconnected: %.60s", p))
			case on != nil:
				on(p)
			}
		}
	}()
	return hc
}

// manyRooms: row 7. One client allowed every provider joins Rooms rooms,
// at most 1,000 requests ahead of the answers.
func (e *env) manyRooms(ctx context.Context, h *holder) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := bench.Dial(dctx, bench.DialConfig{URL: e.srv.url, Connect: bench.ConnectPacket(e.all), Source: e.d.source()})
	cancel()
	if err != nil {
		h.count("refused: " + shortErr(err))
		return
	}
	var joined, refused atomic.Int64
	var firstRefusal atomic.Value
	window := make(chan struct{}, 1000)
	allAnswered := make(chan struct{})
	var answered atomic.Int64
	hc := h.holdSocketIO(c, func(p []byte) {
		switch {
		case bytes.HasPrefix(p, []byte(`42["joinedRoom"`)):
			joined.Add(1)
		case bytes.HasPrefix(p, []byte(`42["exception"`)):
			refused.Add(1)
			firstRefusal.CompareAndSwap(nil, fmt.Sprintf("%.160s", p[2:]))
		default:
			return
		}
		select {
		case <-window:
		default:
		}
		if answered.Add(1) == int64(e.o.Rooms) {
			close(allAnswered)
		}
	})
	start := time.Now()
	guard := time.After(e.o.ProbeTimeout * 10)
	sent := 0
send:
	for ; sent < e.o.Rooms; sent++ {
		select {
		case window <- struct{}{}:
		case <-guard:
			break send
		case <-hc.gone:
			break send
		case <-ctx.Done():
			break send
		}
		if err := c.WriteMessage(ws.OpText, []byte(`42["joinRoom","provider-abuse-r`+strconv.Itoa(sent)+`"]`)); err != nil {
			h.count("joinRoom: " + errClass(err))
			break
		}
		if (sent+1)%20000 == 0 {
			e.logf("  %d/%d joinRoom sent", sent+1, e.o.Rooms)
		}
	}
	select {
	case <-allAnswered:
	case <-guard:
	case <-hc.gone:
	case <-ctx.Done():
	}
	took := time.Since(start)
	h.count("connected")
	msg := fmt.Sprintf("%d joinRoom sent: %d joined, %d refused in %s", sent, joined.Load(), refused.Load(), round(took))
	if r := firstRefusal.Load(); r != nil {
		msg += "; first refusal " + r.(string)
	}
	h.note("%s", msg)
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 140 {
		s = s[:140]
	}
	return s
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
