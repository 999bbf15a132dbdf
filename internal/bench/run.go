package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scenarios.
const (
	// ScenarioFanout: every client in one room, Events emits into it.
	ScenarioFanout = "fanout"
	// ScenarioRooms: clients spread over Rooms rooms, emits round-robin over them.
	ScenarioRooms = "rooms"
	// ScenarioE2E: one slot per room; each event is a REST PATCH of the
	// slot, which the server turns into availabilityUpdated for the room.
	ScenarioE2E = "e2e"
	// ScenarioIdle: connections held open, no events; memory per connection.
	ScenarioIdle = "idle"
)

// Limits that bound every run.
const (
	MaxClients = 20000 // per server node: a process may hold 20,000 files
	MaxEvents  = 1_000_000
	MaxRooms   = 10000
)

// Options is one run of one scenario against one server.
type Options struct {
	Scenario string
	// Case names the run for grouping (e.g. "fanout-1k"); Server names the
	// server under test (e.g. "eventide", "node").
	Case   string
	Server string

	URL string // http://127.x.y.z:port
	// URLs, when set, are the nodes of one cluster (URL is then ignored):
	// the clients are spread evenly over them, every room over every node
	// (NodeOf), and each REST call goes to one of them at random.
	URLs  []string
	Token string // admin token: Socket.IO auth and REST Bearer
	// PIDs are the server's processes (one per node), for CPU and RSS from
	// /proc, summed; empty = not measured.
	PIDs []int
	// RedisAddr is the host:port of a Redis that serves only this run's
	// cluster: its CPU (INFO cpu) over the window is reported per event.
	RedisAddr string
	// DBPIDs lists the processes of the server's database (PostgreSQL's
	// backends of its database, which come and go with its pool); their
	// CPU is reported apart as DBCPUSeconds. Nil: not measured.
	DBPIDs func(ctx context.Context) ([]int, error)

	Clients int
	Rooms   int
	Events  int
	// Rate is emits (HTTP requests) per second; 0 sends them back to back,
	// each after the previous one's response.
	Rate float64
	// Batch is the "count" of one emit request (fanout, rooms): that many
	// events with the same stamp.
	Batch int
	// Payload pads every emitted event's data with this many bytes.
	Payload int
	Event   string // emitted event name; default "bench"

	// PollingPercent of the clients use HTTP long-polling (never upgrading),
	// spread over rooms and nodes (Polls); the rest WebSocket.
	PollingPercent int

	PerWorker       int           // connections per process; default 5000
	Sources         []string      // source addresses (127.0.0.0/8)
	DialConcurrency int           // handshakes in flight per process
	Settle          time.Duration // after connecting, before reading RSS and emitting
	Wait            time.Duration // after the last emit, how long to wait for deliveries
	MaxTime         time.Duration // the whole run
	// Exe is this binary, re-executed as `Exe worker` when Clients exceeds
	// PerWorker. Empty runs every connection in this process.
	Exe string
}

// Result is the outcome of one run: printed as a table and a JSON line.
type Result struct {
	Time     string `json:"time"`
	Case     string `json:"case"`
	Scenario string `json:"scenario"`
	Server   string `json:"server"`
	Clients  int    `json:"clients"`
	Rooms    int    `json:"rooms"`
	Events   int    `json:"events"`
	Workers  int    `json:"workers"`
	Nodes    int    `json:"nodes,omitempty"`

	Connected      int      `json:"connected"`
	Polling        int      `json:"polling,omitempty"` // of them on long-polling
	ConnectFailed  int      `json:"connectFailed"`
	ConnectErrors  []string `json:"connectErrors,omitempty"`
	ConnectSeconds float64  `json:"connectSeconds"`

	Expected    int64 `json:"expected"`
	Delivered   int64 `json:"delivered"`
	Incomplete  int64 `json:"incompleteConns"`
	Extra       int64 `json:"extra"`
	Disconnects int64 `json:"disconnects"`
	Errors      int64 `json:"errors"`
	EmitErrors  int64 `json:"emitErrors"`
	Complete    bool  `json:"complete"`

	EmitSeconds      float64 `json:"emitSeconds"`
	Seconds          float64 `json:"seconds"`
	DeliveriesPerSec float64 `json:"deliveriesPerSec"`
	P50Us            float64 `json:"p50Us"`
	P99Us            float64 `json:"p99Us"`
	MaxUs            float64 `json:"maxUs"`

	// RESTP50Us and RESTP99Us are the emit requests' round trips (e2e: the
	// PATCH's, from send to response).
	RESTP50Us float64 `json:"restP50Us,omitempty"`
	RESTP99Us float64 `json:"restP99Us,omitempty"`

	ServerCPUSeconds float64 `json:"serverCpuSeconds"`
	CPUSecPer1000    float64 `json:"cpuSecPer1000"`
	CPUUsPerDelivery float64 `json:"cpuUsPerDelivery"`
	// DBCPUSeconds is the database processes' CPU over the same window
	// (Options.DBPIDs), DBCPUUsPerDelivery the same per delivery.
	DBCPUSeconds       float64 `json:"dbCpuSeconds,omitempty"`
	DBCPUUsPerDelivery float64 `json:"dbCpuUsPerDelivery,omitempty"`
	// RedisCPUSeconds is Options.RedisAddr's CPU over the same window,
	// RedisCPUUsPerEvent the same per event emitted (one PATCH in e2e).
	RedisCPUSeconds    float64 `json:"redisCpuSeconds,omitempty"`
	RedisCPUUsPerEvent float64 `json:"redisCpuUsPerEvent,omitempty"`
	RSSBaseMB          float64 `json:"rssBaseMB"`
	RSSConnectedMB     float64 `json:"rssConnectedMB"`
	RSSAfterMB         float64 `json:"rssAfterMB"`
	RSSPerConnKB       float64 `json:"rssPerConnKB"`
}

func (o *Options) defaults() error {
	if o.Event == "" {
		o.Event = "bench"
	}
	if o.PerWorker <= 0 {
		o.PerWorker = 5000
	}
	if o.Rooms <= 0 {
		o.Rooms = 1
	}
	if o.Scenario == ScenarioFanout {
		o.Rooms = 1
	}
	if o.Batch <= 0 {
		o.Batch = 1
	}
	if o.Wait <= 0 {
		o.Wait = 30 * time.Second
	}
	if o.MaxTime <= 0 {
		o.MaxTime = 5 * time.Minute
	}
	if o.Case == "" {
		o.Case = fmt.Sprintf("%s-%d", o.Scenario, o.Clients)
	}
	if len(o.URLs) == 0 {
		o.URLs = []string{o.URL}
	}
	o.URL = o.URLs[0]
	switch o.Scenario {
	case ScenarioFanout, ScenarioRooms, ScenarioE2E, ScenarioIdle:
	default:
		return fmt.Errorf("unknown scenario %q (fanout, rooms, e2e, idle)", o.Scenario)
	}
	for _, u := range o.URLs {
		if _, err := CheckLoopback(u); err != nil {
			return err
		}
	}
	if o.Clients < 1 || o.Clients > MaxClients*len(o.URLs) {
		return fmt.Errorf("--clients must be 1..%d (%d per node)", MaxClients*len(o.URLs), MaxClients)
	}
	if o.Events < 0 || o.Events > MaxEvents {
		return fmt.Errorf("--events must be 0..%d", MaxEvents)
	}
	if o.Rooms > MaxRooms || o.Rooms > o.Clients {
		return fmt.Errorf("--rooms must be 1..min(clients, %d)", MaxRooms)
	}
	if o.PollingPercent < 0 || o.PollingPercent > 100 {
		return errors.New("--polling-percent must be 0..100")
	}
	if o.Rate < 0 || o.Payload < 0 || o.Payload > 64<<10 {
		return errors.New("--rate must be >= 0 and --payload 0..65536")
	}
	return nil
}

// Run connects the clients, emits the events, waits for their delivery and
// measures. It returns an error only when the run could not take place;
// incomplete deliveries are in the Result (Complete false).
func Run(ctx context.Context, o Options, progress io.Writer) (Result, error) {
	if err := o.defaults(); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.MaxTime)
	defer cancel()
	logf := func(format string, a ...any) { fmt.Fprintf(progress, "bench: "+format+"\n", a...) }

	res := Result{
		Time: time.Now().UTC().Format(time.RFC3339), Case: o.Case, Scenario: o.Scenario, Server: o.Server,
		Clients: o.Clients, Rooms: o.Rooms, Events: o.Events, Nodes: len(o.URLs),
	}
	if o.Scenario == ScenarioIdle {
		res.Events = 0
	}
	sample := func() []ProcSample {
		out := make([]ProcSample, len(o.PIDs))
		for i, pid := range o.PIDs {
			s, err := ReadProc(pid)
			if err != nil {
				logf("%v", err)
			}
			out[i] = s
		}
		return out
	}
	measured := len(o.PIDs) > 0
	base := sample()

	// Shards: in this process when one is enough, else worker children.
	var shards []shardHandle
	defer func() {
		for _, s := range shards {
			_ = s.Close()
		}
	}()
	n := (o.Clients + o.PerWorker - 1) / o.PerWorker
	for i := 0; i < n; i++ {
		cfg := ShardConfig{
			URL: o.URL, URLs: o.URLs, Token: o.Token, First: i * o.PerWorker, Conns: min(o.PerWorker, o.Clients-i*o.PerWorker),
			Rooms: o.Rooms, Sources: o.Sources, DialConcurrency: o.DialConcurrency, PollingPercent: o.PollingPercent,
		}
		if n == 1 || o.Exe == "" {
			shards = append(shards, localShard{NewShard(cfg)})
			continue
		}
		r, err := startRemote(o.Exe, cfg)
		if err != nil {
			return res, err
		}
		shards = append(shards, r)
	}
	res.Workers = len(shards)

	logf("%s %s: connecting %d clients (%d rooms, %d process(es))", o.Server, o.Case, o.Clients, o.Rooms, len(shards))
	t0 := time.Now()
	joins := make([]JoinReport, len(shards))
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, s := range shards {
		wg.Add(1)
		go func() { defer wg.Done(); joins[i], errs[i] = s.Connect(ctx) }()
	}
	wg.Wait()
	res.ConnectSeconds = time.Since(t0).Seconds()
	perRoom := map[int]int{}
	for i, j := range joins {
		if errs[i] != nil {
			return res, errs[i]
		}
		res.Connected += j.Connected
		res.Polling += j.Polling
		res.ConnectFailed += j.Failed
		for r, c := range j.PerRoom {
			perRoom[r] += c
		}
		for _, e := range j.Errors {
			if len(res.ConnectErrors) < 5 {
				res.ConnectErrors = append(res.ConnectErrors, e)
			}
		}
	}
	logf("%d connected, %d failed in %.1fs %v", res.Connected, res.ConnectFailed, res.ConnectSeconds, res.ConnectErrors)

	if o.Settle > 0 {
		select {
		case <-time.After(o.Settle):
		case <-ctx.Done():
		}
	}
	conn := sample()
	res.RSSBaseMB = mb(rssSum(base))
	res.RSSConnectedMB = mb(rssSum(conn))
	if res.Connected > 0 && measured {
		res.RSSPerConnKB = float64(rssSum(conn)-rssSum(base)) / 1024 / float64(res.Connected)
	}

	if o.Scenario == ScenarioIdle || o.Events == 0 {
		res.Complete = res.ConnectFailed == 0
		res.RSSAfterMB = res.RSSConnectedMB
		return res, nil
	}

	em, err := newEmitter(o)
	if err != nil {
		return res, err
	}
	if o.Scenario == ScenarioE2E {
		if err := em.createSlots(ctx); err != nil {
			return res, err
		}
		// Let the "created" events (unstamped, not counted) drain.
		time.Sleep(200 * time.Millisecond)
	}

	// The plan: emit k goes to room k % Rooms with count events.
	type emit struct{ room, count int }
	var plan []emit
	expect := Expect{PerRoom: map[int]int64{}, Deadline: time.Now().Add(o.MaxTime)}
	for left, k := o.Events, 0; left > 0; k++ {
		c := 1
		if o.Scenario != ScenarioE2E {
			c = min(o.Batch, left)
		}
		plan = append(plan, emit{room: k % o.Rooms, count: c})
		expect.PerRoom[k%o.Rooms] += int64(c)
		left -= c
	}
	for r, c := range expect.PerRoom {
		res.Expected += c * int64(perRoom[r])
	}

	mctx, stop := context.WithCancel(ctx)
	defer stop()
	results := make([]ShardResult, len(shards))
	var mwg sync.WaitGroup
	for i, s := range shards {
		mwg.Add(1)
		go func() { defer mwg.Done(); results[i], errs[i] = s.Measure(mctx, expect) }()
	}
	// Give the workers the expectation before the first event can arrive.
	time.Sleep(100 * time.Millisecond)

	logf("emitting %d events in %d requests", o.Events, len(plan))
	db0 := sampleDB(ctx, o, logf)
	redis0 := sampleRedis(ctx, o, logf)
	cpu0 := sample()
	start := time.Now()
	for k, e := range plan {
		if o.Rate > 0 {
			at := start.Add(time.Duration(float64(k) / o.Rate * float64(time.Second)))
			if d := time.Until(at); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		if err := em.emit(ctx, e.room, e.count); err != nil {
			res.EmitErrors++
			if res.EmitErrors <= 3 {
				logf("emit: %v", err)
			}
		}
	}
	res.EmitSeconds = time.Since(start).Seconds()
	waitDone := make(chan struct{})
	go func() { mwg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(o.Wait):
		stop()
		<-waitDone
	case <-ctx.Done():
		<-waitDone
	}
	cpu1 := sample()
	db1 := sampleDB(ctx, o, logf)
	redis1 := sampleRedis(ctx, o, logf)

	var hist Histogram
	var last int64
	for i, r := range results {
		if errs[i] != nil {
			return res, errs[i]
		}
		res.Delivered += r.Delivered
		res.Incomplete += r.Incomplete
		res.Extra += r.Extra
		res.Disconnects += r.Disconnects
		res.Errors += r.Errors
		last = max(last, r.LastRecvNs)
		hist.Merge(r.Latency)
	}
	res.Complete = res.ConnectFailed == 0 && res.Incomplete == 0 && res.Delivered >= res.Expected && res.EmitErrors == 0
	if last > 0 {
		res.Seconds = float64(last-start.UnixNano()) / 1e9
	}
	if res.Seconds > 0 {
		res.DeliveriesPerSec = float64(res.Delivered) / res.Seconds
	}
	res.P50Us = float64(hist.Quantile(0.50)) / 1e3
	res.P99Us = float64(hist.Quantile(0.99)) / 1e3
	res.MaxUs = float64(hist.Max()) / 1e3
	if em.rest.Count() > 0 {
		res.RESTP50Us = float64(em.rest.Quantile(0.50)) / 1e3
		res.RESTP99Us = float64(em.rest.Quantile(0.99)) / 1e3
	}
	if o.DBPIDs != nil {
		res.DBCPUSeconds = dbCPUBetween(db0, db1)
		if res.Delivered > 0 {
			res.DBCPUUsPerDelivery = res.DBCPUSeconds / float64(res.Delivered) * 1e6
		}
	}
	if redis0 >= 0 && redis1 >= 0 && o.Events > 0 {
		res.RedisCPUSeconds = redis1 - redis0
		res.RedisCPUUsPerEvent = res.RedisCPUSeconds / float64(o.Events) * 1e6
	}
	if measured {
		for i := range cpu0 {
			res.ServerCPUSeconds += CPUBetween(cpu0[i], cpu1[i])
		}
		res.RSSAfterMB = mb(rssSum(cpu1))
		if res.Delivered > 0 {
			res.CPUSecPer1000 = res.ServerCPUSeconds / float64(res.Delivered) * 1000
			res.CPUUsPerDelivery = res.ServerCPUSeconds / float64(res.Delivered) * 1e6
		}
	}
	return res, nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// rssSum is the resident memory of every process sampled.
func rssSum(ss []ProcSample) int64 {
	var n int64
	for _, s := range ss {
		n += s.RSSBytes
	}
	return n
}

// sampleRedis reads Options.RedisAddr's CPU seconds, or -1 when there is
// none or it cannot be read.
func sampleRedis(ctx context.Context, o Options, logf func(string, ...any)) float64 {
	if o.RedisAddr == "" {
		return -1
	}
	v, err := ReadRedisCPU(ctx, o.RedisAddr)
	if err != nil {
		logf("%v", err)
		return -1
	}
	return v
}

// emitter sends the events: POST /api/v1/dev/emit, or for e2e a PATCH of
// the room's slot, each stamped with the send time.
type emitter struct {
	o      Options
	client *http.Client
	pad    string
	slots  map[int]int64 // room index -> slot id (e2e)
	rest   Histogram     // round trips of the emit requests
}

func newEmitter(o Options) (*emitter, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}
	return &emitter{
		o:      o,
		client: &http.Client{Transport: tr, Timeout: 60 * time.Second},
		pad:    strings.Repeat("x", o.Payload),
		slots:  map[int]int64{},
	}, nil
}

func (e *emitter) do(ctx context.Context, method, path string, body []byte, want int) ([]byte, error) {
	return e.doAt(ctx, e.o.URL, method, path, body, want)
}

// doAt is do against the node at base.
func (e *emitter) doAt(ctx context.Context, base, method, path string, body []byte, want int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.o.Token)
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d %.200s", method, path, resp.StatusCode, b)
	}
	return b, nil
}

// createSlots creates one slot per room, one second long, a day from now:
// runs seconds apart never overlap an earlier run's slots.
func (e *emitter) createSlots(ctx context.Context) error {
	start := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	for r := 0; r < e.o.Rooms; r++ {
		body := fmt.Sprintf(`{"start":%q,"end":%q}`, start.Format(time.RFC3339), start.Add(time.Second).Format(time.RFC3339))
		b, err := e.do(ctx, http.MethodPost, "/api/v1/providers/"+ProviderID(r)+"/slots", []byte(body), http.StatusCreated)
		if err != nil {
			return fmt.Errorf("create slot: %w", err)
		}
		var s struct {
			ID json.Number `json:"id"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("create slot: %w", err)
		}
		id, err := s.ID.Int64()
		if err != nil {
			return fmt.Errorf("create slot id %q: %w", s.ID, err)
		}
		e.slots[r] = id
	}
	return nil
}

// node is the base URL of a node chosen at random (the only one when the
// server is a single process).
func (e *emitter) node() string {
	if len(e.o.URLs) <= 1 {
		return e.o.URL
	}
	return e.o.URLs[rand.IntN(len(e.o.URLs))]
}

func (e *emitter) emit(ctx context.Context, room, count int) error {
	sent := time.Now()
	stamp := stampMarker + strconv.FormatInt(sent.UnixNano(), 10)
	if e.o.Scenario == ScenarioE2E {
		path := "/api/v1/providers/" + ProviderID(room) + "/slots/" + strconv.FormatInt(e.slots[room], 10)
		_, err := e.doAt(ctx, e.node(), http.MethodPatch, path, []byte(`{"note":"`+stamp+`"}`), http.StatusOK)
		e.rest.Record(int64(time.Since(sent)))
		return err
	}
	var b strings.Builder
	b.WriteString(`{"room":"`)
	b.WriteString(RoomName(room))
	b.WriteString(`","event":`)
	b.WriteString(strconv.Quote(e.o.Event))
	b.WriteString(`,"data":{"stamp":"`)
	b.WriteString(stamp)
	b.WriteString(`"`)
	if e.pad != "" {
		b.WriteString(`,"pad":"`)
		b.WriteString(e.pad)
		b.WriteString(`"`)
	}
	b.WriteString(`},"count":`)
	b.WriteString(strconv.Itoa(count))
	b.WriteString(`}`)
	_, err := e.doAt(ctx, e.node(), http.MethodPost, "/api/v1/dev/emit", []byte(b.String()), http.StatusAccepted)
	e.rest.Record(int64(time.Since(sent)))
	return err
}
