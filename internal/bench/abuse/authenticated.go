package abuse

import (
	"bytes"
	"context"
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

// The attacks of rows 6 and 7: clients with a valid token.

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
