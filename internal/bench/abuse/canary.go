package abuse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/eventide/realtime/internal/bench"
	"github.com/eventide/realtime/internal/ws"
)

// The providers the tool uses: the canary's, and the one with thousands of
// slots for the list reads.
const (
	canaryProvider = "abuse-canary"
	slotsProvider  = "abuse-slots"
)

// canary is a Socket.IO client in the canary provider's room. It reconnects
// when the server drops it (as socket.io-client does) and keeps every
// availabilityUpdated it receives, by the slot version the change produced.
type canary struct {
	url, token string
	slotPath   string

	mu          sync.Mutex
	got         map[int64]int64 // slot version -> seq
	disconnects int
	conn        *ws.Conn
	closing     bool
	done        chan struct{}
}

// startCanary makes sure the canary provider has a slot, connects the
// canary and joins its room.
func startCanary(ctx context.Context, r *rest, url string) (*canary, error) {
	ids, err := r.slotIDs(ctx, canaryProvider)
	if err != nil {
		return nil, err
	}
	var id int64
	if len(ids) > 0 {
		id = ids[0]
	} else {
		status, sid, err := r.createSlot(ctx, canaryProvider, 9000)
		if err != nil || status != http.StatusCreated {
			return nil, fmt.Errorf("create the canary slot: %d %v", status, err)
		}
		id = sid
	}
	c := &canary{
		url: url, token: r.token, got: map[int64]int64{}, done: make(chan struct{}),
		slotPath: "/api/v1/providers/" + canaryProvider + "/slots/" + strconv.FormatInt(id, 10),
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("canary: %w", err)
	}
	go c.run(conn)
	return c, nil
}

func (c *canary) dial(ctx context.Context) (*ws.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return bench.Dial(ctx, bench.DialConfig{URL: c.url, Connect: bench.ConnectPacket(c.token), Room: "provider-" + canaryProvider})
}

// run reads the canary's events; a dropped connection is redialled every
// second until close.
func (c *canary) run(conn *ws.Conn) {
	defer close(c.done)
	for {
		c.mu.Lock()
		if c.closing {
			c.mu.Unlock()
			conn.Close()
			return
		}
		c.conn = conn
		c.mu.Unlock()
		c.read(conn)
		c.mu.Lock()
		if c.closing {
			c.mu.Unlock()
			return
		}
		c.disconnects++
		c.mu.Unlock()
		for {
			time.Sleep(time.Second)
			c.mu.Lock()
			closing := c.closing
			c.mu.Unlock()
			if closing {
				return
			}
			var err error
			if conn, err = c.dial(context.Background()); err == nil {
				break
			}
		}
	}
}

var updatedPrefix = []byte(`42["availabilityUpdated",`)

func (c *canary) read(conn *ws.Conn) {
	for {
		op, p, err := conn.ReadMessage(1 << 20)
		if err != nil {
			return
		}
		if op != ws.OpText || len(p) == 0 {
			continue
		}
		switch {
		case len(p) == 1 && p[0] == '2':
			if conn.WriteMessage(ws.OpText, bench.Pong) != nil {
				return
			}
		case p[0] == '1', bytes.HasPrefix(p, []byte("41")):
			conn.Close()
			return
		case bytes.HasPrefix(p, updatedPrefix):
			var ev []json.RawMessage
			var ch struct {
				Seq  int64 `json:"seq"`
				Slot struct {
					Version int64 `json:"version"`
				} `json:"slot"`
			}
			// ["availabilityUpdated", change] and, with connection-state
			// recovery on (the default), the event's offset after them.
			if json.Unmarshal(p[2:], &ev) == nil && len(ev) >= 2 && json.Unmarshal(ev[1], &ch) == nil {
				c.mu.Lock()
				c.got[ch.Slot.Version] = ch.Seq
				c.mu.Unlock()
			}
		}
	}
}

func (c *canary) close() {
	c.mu.Lock()
	c.closing = true
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	<-c.done
}

// driver PATCHes the canary's slot at a steady pace: each 200 is a change
// the canary must receive.
type driver struct {
	c      *canary
	r      *rest
	stop   chan struct{}
	done   chan struct{}
	disc0  int
	mu     sync.Mutex
	ok     []int64 // versions answered 200
	errs   int
	errMsg string
	lat    []time.Duration
}

func (c *canary) drive(r *rest, every time.Duration) *driver {
	c.mu.Lock()
	d := &driver{c: c, r: r, stop: make(chan struct{}), done: make(chan struct{}), disc0: c.disconnects}
	c.mu.Unlock()
	go func() {
		defer close(d.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for n := 0; ; n++ {
			d.patch(n)
			select {
			case <-d.stop:
				return
			case <-t.C:
			}
		}
	}()
	return d
}

func (d *driver) patch(n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	status, b, err := d.r.do(ctx, http.MethodPatch, d.c.slotPath, []byte(fmt.Sprintf(`{"note":"canary %d at %s"}`, n, start.Format(time.RFC3339Nano))))
	lat := time.Since(start)
	var s struct {
		Version int64 `json:"version"`
	}
	if err == nil && status == http.StatusOK {
		err = json.Unmarshal(b, &s)
	} else if err == nil {
		err = fmt.Errorf("PATCH %d %.120s", status, b)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lat = append(d.lat, lat)
	if err != nil {
		d.errs++
		if d.errMsg == "" {
			d.errMsg = errClass(err)
		}
		return
	}
	d.ok = append(d.ok, s.Version)
}

// CanaryResult is what the canary saw during one scenario.
type CanaryResult struct {
	Patches     int           // PATCHes answered 200: events the canary must get
	Errors      int           // PATCHes that failed or timed out (10 s)
	FirstError  string        // the first failure
	PatchP50    time.Duration // PATCH latency
	PatchMax    time.Duration
	Received    int     // of the Patches, events the canary received
	Missed      []int64 // slot versions whose event never came
	SeqFirst    int64   // seq range of the events received
	SeqLast     int64
	Disconnects int // times the server dropped the canary
}

// finish stops the PATCHes and waits up to wait for the last events.
func (d *driver) finish(wait time.Duration) CanaryResult {
	close(d.stop)
	<-d.done
	d.mu.Lock()
	res := CanaryResult{Patches: len(d.ok), Errors: d.errs, FirstError: d.errMsg}
	lat := append([]time.Duration(nil), d.lat...)
	ok := append([]int64(nil), d.ok...)
	d.mu.Unlock()
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		res.PatchP50, res.PatchMax = lat[len(lat)/2], lat[len(lat)-1]
	}
	deadline := time.Now().Add(wait)
	for {
		d.c.mu.Lock()
		res.Missed = res.Missed[:0]
		res.Received, res.SeqFirst, res.SeqLast = 0, 0, 0
		for _, v := range ok {
			seq, got := d.c.got[v]
			if !got {
				res.Missed = append(res.Missed, v)
				continue
			}
			res.Received++
			if res.SeqFirst == 0 || seq < res.SeqFirst {
				res.SeqFirst = seq
			}
			res.SeqLast = max(res.SeqLast, seq)
		}
		res.Disconnects = d.c.disconnects - d.disc0
		d.c.mu.Unlock()
		if len(res.Missed) == 0 || time.Now().After(deadline) {
			return res
		}
		time.Sleep(100 * time.Millisecond)
	}
}
