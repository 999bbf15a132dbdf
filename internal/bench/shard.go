package bench

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// ShardConfig describes the connections one process opens.
type ShardConfig struct {
	// URL is the server's base URL, http://127.x.y.z:port.
	URL string `json:"url"`
	// URLs, when set, are the base URLs of several nodes of one cluster
	// (URL is then ignored): connection i dials URLs[(i / Rooms) % len],
	// so every room has its members spread evenly over the nodes.
	URLs []string `json:"urls,omitempty"`
	// Token goes in the Socket.IO CONNECT auth payload {"token": ...}.
	Token string `json:"token"`
	// First is the global index of this shard's first connection; Conns is
	// how many it opens. Connection i joins room i % Rooms and dials from
	// Sources[i % len(Sources)].
	First int `json:"first"`
	Conns int `json:"conns"`
	Rooms int `json:"rooms"`
	// Sources are the 127.0.0.0/8 addresses connections dial from, so the
	// ephemeral ports of one source address do not run out.
	Sources []string `json:"sources"`
	// DialConcurrency bounds the handshakes in flight (default 64), so a
	// burst of dials does not overflow the server's accept queue.
	DialConcurrency int `json:"dialConcurrency"`
	// PollingPercent of the connections (spread over rooms and nodes by
	// Polls) use HTTP long-polling and never upgrade; the rest WebSocket.
	PollingPercent int `json:"pollingPercent,omitempty"`
	// HandshakeTimeout bounds dial + CONNECT + joinRoom per connection.
	HandshakeTimeout time.Duration `json:"handshakeTimeout"`
}

// RoomName is the Socket.IO room of room index r.
func RoomName(r int) string { return "provider-" + ProviderID(r) }

// ProviderID is the provider id of room index r.
func ProviderID(r int) string { return "b" + strconv.Itoa(r+1) }

// JoinReport is what a shard reports once its connections are up.
type JoinReport struct {
	Connected int `json:"connected"`
	Failed    int `json:"failed"`
	// PerRoom counts joined connections per room index.
	PerRoom map[int]int `json:"perRoom"`
	// Polling counts the joined connections on long-polling.
	Polling int `json:"polling,omitempty"`
	// Errors holds the first few distinct failures.
	Errors  []string      `json:"errors,omitempty"`
	Elapsed time.Duration `json:"elapsed"`
}

// Expect tells a shard what the coordinator is about to emit: the number of
// stamped events per room index, and when to give up waiting.
type Expect struct {
	PerRoom  map[int]int64 `json:"perRoom"`
	Deadline time.Time     `json:"deadline"`
}

// ShardResult is what a shard observed during one measurement.
type ShardResult struct {
	Expected  int64 `json:"expected"`
	Delivered int64 `json:"delivered"`
	// Incomplete counts connections that got fewer events than their room
	// was sent; Extra counts deliveries beyond that (duplicates).
	Incomplete  int64         `json:"incomplete"`
	Extra       int64         `json:"extra"`
	Disconnects int64         `json:"disconnects"`
	Errors      int64         `json:"errors"`
	FirstRecvNs int64         `json:"firstRecvNs"`
	LastRecvNs  int64         `json:"lastRecvNs"`
	Latency     HistogramData `json:"latency"`
}

// Shard holds one process's connections: one goroutine per connection
// reads, answers pings and counts stamped events.
type Shard struct {
	cfg   ShardConfig
	hist  Histogram
	conns []*clientConn

	delivered   atomic.Int64
	target      atomic.Int64
	disconnects atomic.Int64
	errors      atomic.Int64
	firstRecv   atomic.Int64
	lastRecv    atomic.Int64
	done        chan struct{}
	doneOnce    sync.Once
	closing     atomic.Bool
	wg          sync.WaitGroup
}

type clientConn struct {
	c    msgConn
	room int
	got  atomic.Int64
}

// NewShard returns a shard for cfg; Connect opens its connections.
func NewShard(cfg ShardConfig) *Shard {
	if cfg.DialConcurrency <= 0 {
		cfg.DialConcurrency = 64
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 20 * time.Second
	}
	if cfg.Rooms <= 0 {
		cfg.Rooms = 1
	}
	s := &Shard{cfg: cfg, done: make(chan struct{})}
	s.target.Store(-1)
	return s
}

// Connect dials every connection, connects to the default namespace and
// joins its room, with at most DialConcurrency handshakes at a time.
func (s *Shard) Connect(ctx context.Context) JoinReport {
	start := time.Now()
	rep := JoinReport{PerRoom: map[int]int{}}
	urls := s.cfg.URLs
	if len(urls) == 0 {
		urls = []string{s.cfg.URL}
	}
	for _, u := range urls {
		if _, err := CheckLoopback(u); err != nil {
			rep.Failed = s.cfg.Conns
			rep.Errors = []string{err.Error()}
			return rep
		}
	}
	sources := make([]*net.TCPAddr, len(s.cfg.Sources))
	for i, a := range s.cfg.Sources {
		sources[i] = &net.TCPAddr{IP: net.ParseIP(a)}
	}
	connect := ConnectPacket(s.cfg.Token)

	var mu sync.Mutex
	seen := map[string]bool{}
	sem := make(chan struct{}, s.cfg.DialConcurrency)
	var wg sync.WaitGroup
	for k := 0; k < s.cfg.Conns; k++ {
		idx := s.cfg.First + k
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			mu.Lock()
			rep.Failed += s.cfg.Conns - k
			mu.Unlock()
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc := &clientConn{room: idx % s.cfg.Rooms}
			var src *net.TCPAddr
			if len(sources) > 0 {
				src = sources[idx%len(sources)]
			}
			err := s.handshake(ctx, cc, NodeOf(idx, s.cfg.Rooms, urls), Polls(idx, s.cfg.PollingPercent), src, connect)
			<-sem
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.Failed++
				if msg := err.Error(); !seen[msg] && len(rep.Errors) < 5 {
					seen[msg] = true
					rep.Errors = append(rep.Errors, msg)
				}
				return
			}
			rep.Connected++
			rep.PerRoom[cc.room]++
			if Polls(idx, s.cfg.PollingPercent) {
				rep.Polling++
			}
			s.conns = append(s.conns, cc)
			s.wg.Add(1)
			go s.readLoop(cc)
		}()
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	return rep
}

// NodeOf is the node URL connection idx dials: consecutive blocks of rooms
// go to consecutive nodes, so each room's members (idx ≡ room mod rooms)
// are spread evenly over the nodes whatever the number of rooms.
func NodeOf(idx, rooms int, urls []string) string {
	return urls[(idx/max(rooms, 1))%len(urls)]
}

// Polls reports whether connection idx uses long-polling when percent of
// them do: a multiplicative hash of idx, so the polling connections are
// spread over every room and node rather than filling some.
func Polls(idx, percent int) bool {
	if percent <= 0 {
		return false
	}
	return int(uint32(idx)*2654435761>>16)%100 < percent
}

func (s *Shard) handshake(ctx context.Context, cc *clientConn, url string, polling bool, src *net.TCPAddr, connect []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	cfg := DialConfig{URL: url, Connect: connect, Room: RoomName(cc.room), Source: src}
	if polling {
		c, err := DialPolling(ctx, cfg)
		if err != nil {
			return err
		}
		cc.c = c
		return nil
	}
	c, err := Dial(ctx, cfg)
	if err != nil {
		return err
	}
	cc.c = c
	return nil
}

// readLoop is the connection's life after joining: pings are answered,
// events carrying a stamp are counted and their latency recorded.
func (s *Shard) readLoop(cc *clientConn) {
	defer s.wg.Done()
	c := cc.c
	for {
		op, p, err := c.ReadMessage(1 << 20)
		if err != nil {
			if !s.closing.Load() {
				s.disconnects.Add(1)
			}
			return
		}
		if op != ws.OpText || len(p) == 0 {
			continue
		}
		switch p[0] {
		case '2':
			if err := c.WriteMessage(ws.OpText, Pong); err != nil && !s.closing.Load() {
				s.errors.Add(1)
			}
		case '1':
			if !s.closing.Load() {
				s.disconnects.Add(1)
			}
			c.Close()
			return
		case '4':
			if len(p) > 1 && p[1] == '1' { // Socket.IO DISCONNECT from the server
				if !s.closing.Load() {
					s.disconnects.Add(1)
				}
				c.Close()
				return
			}
			sent, ok := findStamp(p)
			if !ok {
				continue
			}
			now := time.Now().UnixNano()
			s.hist.Record(now - sent)
			cc.got.Add(1)
			s.firstRecv.CompareAndSwap(0, now)
			s.lastRecv.Store(now)
			if s.delivered.Add(1) == s.target.Load() {
				s.doneOnce.Do(func() { close(s.done) })
			}
		}
	}
}

// stampMarker precedes the send time (Unix ns) in every measured event: in
// the emitted data {"stamp":"bench-t=<ns>"} and in a PATCHed slot's note.
const stampMarker = "bench-t="

// findStamp returns the send time in p, without decoding the JSON.
func findStamp(p []byte) (int64, bool) {
	i := indexOf(p, stampMarker)
	if i < 0 {
		return 0, false
	}
	var v int64
	n := 0
	for j := i + len(stampMarker); j < len(p) && p[j] >= '0' && p[j] <= '9' && n < 19; j++ {
		v = v*10 + int64(p[j]-'0')
		n++
	}
	return v, n > 0
}

func indexOf(p []byte, s string) int {
	for i := 0; i+len(s) <= len(p); i++ {
		if p[i] == s[0] && string(p[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

// Measure sets the expectation and waits until every expected event has
// arrived, or the deadline passes, or ctx ends.
func (s *Shard) Measure(ctx context.Context, e Expect) ShardResult {
	var want int64
	for _, cc := range s.conns {
		want += e.PerRoom[cc.room]
	}
	s.target.Store(want)
	if s.delivered.Load() >= want {
		s.doneOnce.Do(func() { close(s.done) })
	}
	t := time.NewTimer(time.Until(e.Deadline))
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
	case <-ctx.Done():
	}
	// Deliveries past completion (duplicates) may still trickle in.
	time.Sleep(50 * time.Millisecond)
	r := ShardResult{
		Expected:    want,
		Delivered:   s.delivered.Load(),
		Disconnects: s.disconnects.Load(),
		Errors:      s.errors.Load(),
		FirstRecvNs: s.firstRecv.Load(),
		LastRecvNs:  s.lastRecv.Load(),
		Latency:     s.hist.Export(),
	}
	for _, cc := range s.conns {
		got, exp := cc.got.Load(), e.PerRoom[cc.room]
		if got < exp {
			r.Incomplete++
		} else if got > exp {
			r.Extra += got - exp
		}
	}
	return r
}

// Close closes every connection and waits for their goroutines.
func (s *Shard) Close() {
	s.closing.Store(true)
	for _, cc := range s.conns {
		cc.c.Close()
	}
	s.wg.Wait()
}
