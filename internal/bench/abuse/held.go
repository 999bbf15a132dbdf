package abuse

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// held is one attacking connection kept open during the hold. A watcher
// goroutine reads what the server sends and notes when the server ends it.
type held struct {
	since  time.Time
	ended  atomic.Int64 // ns after since when the server ended it; 0: still open
	answer atomic.Pointer[string]
	close  func()
	gone   chan struct{} // closed when the watcher ends, whoever closed it
}

func newHeld(closeFn func()) *held {
	return &held{since: time.Now(), close: closeFn, gone: make(chan struct{})}
}

func (h *held) setAnswer(s string) { h.answer.CompareAndSwap(nil, &s) }

// holder keeps a scenario's connections and what happened while opening
// them.
type holder struct {
	mu      sync.Mutex
	conns   []*held
	tally   map[string]int // outcome of each attempt, e.g. "POST sent" or an error
	summary []string       // scenario figures, one line each
	release func()         // stops a scenario's own activity, if any
	wg      sync.WaitGroup
	closing atomic.Bool
}

func newHolder() *holder { return &holder{tally: map[string]int{}} }

func (h *holder) count(outcome string) {
	h.mu.Lock()
	h.tally[outcome]++
	h.mu.Unlock()
}

func (h *holder) fail(step string, err error) { h.count(step + ": " + errClass(err)) }

func (h *holder) add(c *held) {
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
}

func (h *holder) note(format string, a ...any) {
	h.mu.Lock()
	h.summary = append(h.summary, fmt.Sprintf(format, a...))
	h.mu.Unlock()
}

// serverEnded records that the server ended c (not this tool).
func (h *holder) serverEnded(c *held, err error) {
	if h.closing.Load() {
		return
	}
	c.ended.CompareAndSwap(0, max(int64(time.Since(c.since)), 1))
	if err != nil && !errors.Is(err, io.EOF) {
		c.setAnswer("reset")
	}
}

// State is what became of a scenario's connections by the end of the hold.
type State struct {
	Held        int            // connections established and kept
	Open        int            // of those, still open at the end of the hold
	EndedMedian time.Duration  // median time until the server ended the others
	Answers     map[string]int // what the server sent first after the attack step
	Tally       map[string]int // outcomes of the attempts
	Summary     []string
}

func (h *holder) state() State {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := State{Held: len(h.conns), Answers: map[string]int{}, Tally: maps(h.tally), Summary: slices.Clone(h.summary)}
	var ended []time.Duration
	for _, c := range h.conns {
		if d := c.ended.Load(); d == 0 {
			st.Open++
		} else {
			ended = append(ended, time.Duration(d))
		}
		if a := c.answer.Load(); a != nil {
			st.Answers[*a]++
		} else {
			st.Answers["nothing"]++
		}
	}
	if len(ended) > 0 {
		sort.Slice(ended, func(i, j int) bool { return ended[i] < ended[j] })
		st.EndedMedian = ended[len(ended)/2]
	}
	return st
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// releaseAll closes every connection (the tool leaving) and waits for the
// watchers.
func (h *holder) releaseAll() {
	h.closing.Store(true)
	if h.release != nil {
		h.release()
	}
	h.mu.Lock()
	conns := slices.Clone(h.conns)
	h.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	h.wg.Wait()
}

// errClass shortens an error to its kind, so a tally groups like errors.
func errClass(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed by the server"
	case strings.Contains(err.Error(), "connection reset"):
		return "reset by the server"
	case strings.Contains(err.Error(), "broken pipe"):
		return "broken pipe (server closed)"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	case strings.Contains(err.Error(), "cannot assign requested address"):
		return "no local port left"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s)-i < 80 {
		s = s[i+2:]
	}
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// dialer opens the attack connections from the configured source
// addresses, round robin.
type dialer struct {
	addr    string // host:port
	sources []*net.TCPAddr
	next    atomic.Uint64
}

func newDialer(base string, sources []string) (*dialer, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	d := &dialer{addr: u.Host}
	for _, s := range sources {
		d.sources = append(d.sources, &net.TCPAddr{IP: net.ParseIP(s)})
	}
	return d, nil
}

func (d *dialer) source() *net.TCPAddr {
	if len(d.sources) == 0 {
		return nil
	}
	return d.sources[d.next.Add(1)%uint64(len(d.sources))]
}

func (d *dialer) dial(ctx context.Context) (net.Conn, error) { return d.dialAddr(ctx, d.addr) }

// dialAddr dials addr (another listener of the same server) from the next
// source address.
func (d *dialer) dialAddr(ctx context.Context, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: 10 * time.Second}
	if src := d.source(); src != nil {
		nd.LocalAddr = src
	}
	return nd.DialContext(ctx, "tcp", addr)
}

// watchHTTP reads what the server sends on an HTTP connection: the first
// status line is its answer; anything later is discarded until the server
// ends the connection.
func (h *holder) watchHTTP(c *held, br *bufio.Reader) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(c.gone)
		line, err := br.ReadString('\n')
		if line != "" {
			c.setAnswer(statusOf(line))
		}
		if err == nil {
			_, err = io.Copy(io.Discard, br)
		}
		h.serverEnded(c, err)
	}()
}

// watchWS reads server frames (unmasked) on a raw WebSocket without
// answering pings: a close frame is the answer ("close 1009"); the
// connection is open until the server ends it.
func (h *holder) watchWS(c *held, br *bufio.Reader) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(c.gone)
		for {
			op, payload, err := readFrame(br, 125)
			if err != nil {
				h.serverEnded(c, err)
				return
			}
			if op == 0x8 {
				code := 1005
				if len(payload) >= 2 {
					code = int(binary.BigEndian.Uint16(payload))
				}
				c.setAnswer(fmt.Sprintf("close %d", code))
			}
		}
	}()
}
