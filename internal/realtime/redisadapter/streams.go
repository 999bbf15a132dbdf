package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/eventide/realtime/internal/socketio"
)

// Streams is a socketio.Broker and socketio.Cluster on a Redis stream, in
// the wire format of @socket.io/redis-streams-adapter 0.3. Broadcasts are
// XADDed to the stream and read by every node with XREAD from the last
// entry it read, so a node that lost Redis for a while (or Redis that
// restarted) resumes where it stopped: nothing still in the stream is
// lost. An entry id is its broadcast's recovery offset.
type Streams struct {
	sessionStore
	cfg     Config
	uid     string
	rdb     *redis.Client // commands and publishes
	reader  *redis.Client // the blocking XREAD, on a connection of its own
	dialed  *connSet      // the reader's connections, closed to end a blocking read
	health  *health
	sub     *subscriber
	pending pendingRequests
	nsps    locals[streamsChannels]

	routeMu sync.RWMutex
	routes  map[string]string // channel -> namespace

	ctx        context.Context
	cancel     context.CancelFunc
	readerDone chan struct{}
	closeOnce  sync.Once
	closed     chan struct{}

	lastMu sync.Mutex
	last   string // the last entry read
}

var (
	_ socketio.Broker  = (*Streams)(nil)
	_ socketio.Cluster = (*Streams)(nil)
)

type streamsChannels struct {
	public  string // "<key>#<nsp>#": requests to every node
	private string // "<key>#<nsp>#<uid>#": answers to this node
}

// NewStreams connects to Redis (in the background) and starts reading the
// stream from its current end. Close it after the Socket.IO server's
// Shutdown.
func NewStreams(cfg Config) (*Streams, error) {
	cfg.defaults()
	routeLibraryLog(cfg.Logger)
	rdb, err := newClient(cfg.URL, 0)
	if err != nil {
		return nil, err
	}
	opt, err := clientOptions(cfg.URL, 1)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	dialed := &connSet{}
	dial := redis.NewDialer(opt)
	opt.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err == nil {
			dialed.add(c)
		}
		return c, err
	}
	reader := redis.NewClient(opt)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Streams{
		sessionStore: sessionStore{rdb: rdb, prefix: cfg.SessionKeyPrefix},
		cfg:          cfg, uid: newUID(8), rdb: rdb, reader: reader, dialed: dialed,
		health: newHealth(cfg.Logger, "subscriber", "reader"),
		routes: make(map[string]string),
		ctx:    ctx, cancel: cancel,
		readerDone: make(chan struct{}), closed: make(chan struct{}),
	}
	s.sub = newSubscriber(rdb, s.health, &s.cfg, s.onMessage)
	s.sub.start()
	go s.read()
	return s, nil
}

// UID returns this node's id in the cluster's messages.
func (s *Streams) UID() string { return s.uid }

// Ready returns nil when Redis is reachable, else why not (for /readyz).
func (s *Streams) Ready(context.Context) error { return s.health.err() }

func (s *Streams) channels(nsp string) streamsChannels {
	pub := s.cfg.Key + "#" + nsp + "#"
	return streamsChannels{public: pub, private: pub + s.uid + "#"}
}

// Subscribe implements socketio.Broker.
func (s *Streams) Subscribe(_ context.Context, local socketio.Local) error {
	if s.isClosed() {
		return errClosed
	}
	ch := s.channels(local.Name())
	if _, ok := s.nsps.add(local, ch); !ok {
		return fmt.Errorf("redisadapter: namespace %s already subscribed", local.Name())
	}
	s.routeMu.Lock()
	s.routes[ch.public] = local.Name()
	s.routes[ch.private] = local.Name()
	s.routeMu.Unlock()
	s.sub.add([]string{ch.public, ch.private}, nil)
	return nil
}

// Unsubscribe implements socketio.Broker.
func (s *Streams) Unsubscribe(_ context.Context, nsp string) error {
	n := s.nsps.del(nsp)
	if n == nil {
		return nil
	}
	s.routeMu.Lock()
	delete(s.routes, n.ch.public)
	delete(s.routes, n.ch.private)
	s.routeMu.Unlock()
	s.sub.remove([]string{n.ch.public, n.ch.private}, nil)
	return nil
}

func (s *Streams) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

func (s *Streams) usable() error {
	if s.isClosed() {
		return errClosed
	}
	if s.health.isDown() {
		return s.health.err()
	}
	return nil
}

// Publish implements socketio.Broker: XADD the broadcast; its entry id is
// the offset.
func (s *Streams) Publish(ctx context.Context, b *socketio.Broadcast) (string, error) {
	if err := s.usable(); err != nil {
		return "", err
	}
	if b.Flags.Local {
		return "", nil
	}
	e, err := broadcastEntry(s.uid, b)
	if err != nil {
		return "", err
	}
	return s.xadd(ctx, e)
}

func (s *Streams) xadd(ctx context.Context, e streamEntry) (string, error) {
	id, err := s.rdb.Do(ctx, xaddArgs(s.cfg.Key, s.cfg.MaxLen, e)...).Text()
	if err != nil {
		return "", fmt.Errorf("redisadapter: xadd: %w", err)
	}
	return id, nil
}

// Close implements socketio.Broker; safe twice.
func (s *Streams) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		s.cancel()
		s.dialed.closeAll() // ends a blocking XREAD now
		<-s.readerDone
		s.sub.close()
		s.pending.clear()
		err = errors.Join(s.reader.Close(), s.rdb.Close())
	})
	return err
}

// read is the stream's reading loop: from the stream's end when it starts,
// then always from the last entry read, through Redis outages.
func (s *Streams) read() {
	defer close(s.readerDone)
	var b backoff
	ok := false // the last command worked, as reported
	fail := func(err error) bool {
		if s.ctx.Err() != nil {
			return false
		}
		ok = false
		s.health.set("reader", err)
		return b.wait(s.ctx)
	}
	worked := func() {
		if !ok {
			ok = true
			s.health.set("reader", nil)
			b.reset()
		}
	}
	for s.ctx.Err() == nil {
		last := s.lastRead()
		if last == "" {
			msgs, err := s.reader.XRevRangeN(s.ctx, s.cfg.Key, "+", "-", 1).Result()
			if err != nil {
				if !fail(err) {
					return
				}
				continue
			}
			last = "0-0"
			if len(msgs) > 0 {
				last = msgs[0].ID
			}
			s.setLast(last)
			worked()
		} else if !ok {
			// Back after a failure: say so once Redis answers, not after
			// a blocking read that nothing may end for BlockTime (while
			// this node is not ready, it adds nothing to the stream).
			if err := s.reader.Ping(s.ctx).Err(); err != nil {
				if !fail(err) {
					return
				}
				continue
			}
			worked()
		}
		res, err := s.reader.XRead(s.ctx, &redis.XReadArgs{
			Streams: []string{s.cfg.Key, last},
			Count:   s.cfg.ReadCount,
			Block:   s.cfg.BlockTime,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			if !fail(err) {
				return
			}
			continue
		}
		worked()
		for _, st := range res {
			for _, m := range st.Messages {
				s.setLast(m.ID)
				s.onEntry(m)
			}
		}
	}
}

func (s *Streams) lastRead() string {
	s.lastMu.Lock()
	defer s.lastMu.Unlock()
	return s.last
}

func (s *Streams) setLast(id string) {
	s.lastMu.Lock()
	s.last = id
	s.lastMu.Unlock()
}

// onEntry delivers a stream entry of another node, in stream order.
func (s *Streams) onEntry(e redis.XMessage) {
	nsp, _ := e.Values["nsp"].(string)
	uid, _ := e.Values["uid"].(string)
	if uid == s.uid {
		return
	}
	n := s.nsps.get(nsp)
	if n == nil {
		return
	}
	m, err := decodeEntry(e.ID, e.Values)
	if err != nil {
		s.cfg.Logger.Warn("redis: undecodable stream entry dropped", "id", e.ID, "err", err)
		return
	}
	s.dispatch(n, m)
}

// onMessage is the subscriber's handler: requests and answers.
func (s *Streams) onMessage(msg *redis.Message) {
	s.routeMu.RLock()
	nsp, ok := s.routes[msg.Channel]
	s.routeMu.RUnlock()
	if !ok {
		return
	}
	n := s.nsps.get(nsp)
	if n == nil {
		return
	}
	m, err := decodeClusterMessage([]byte(msg.Payload))
	if err != nil {
		s.cfg.Logger.Warn("redis: undecodable message dropped", "channel", msg.Channel, "err", err)
		return
	}
	if m.UID == s.uid || m.Nsp != nsp {
		return
	}
	switch m.Type {
	case msgFetchSocketsResponse, msgServerSideEmitResponse, msgBroadcastClientCount, msgBroadcastAck:
		s.pending.deliver(m.RequestID, m)
	case msgBroadcast:
		if m.RequestID == "" {
			s.dispatch(n, m)
			return
		}
		go s.dispatch(n, m)
	default:
		go s.dispatch(n, m)
	}
}

// dispatch acts on another node's message.
func (s *Streams) dispatch(n *localNsp[streamsChannels], m *clusterMessage) {
	n.with(func(l socketio.Local) {
		switch m.Type {
		case msgBroadcast:
			if m.Packet == nil {
				return
			}
			b := broadcastOf(m.Packet, m.Opts)
			b.Namespace = l.Name()
			if m.RequestID == "" {
				b.Offset = m.Offset
				l.Deliver(b)
				return
			}
			s.onBroadcastWithAck(n, l, m, b)
		case msgSocketsJoin:
			l.AddSockets(m.Opts.selector(), m.Rooms)
		case msgSocketsLeave:
			l.DelSockets(m.Opts.selector(), m.Rooms)
		case msgDisconnectSockets:
			l.DisconnectSockets(m.Opts.selector(), m.Close)
		case msgFetchSockets:
			infos := l.FetchSockets(m.Opts.selector())
			out := make([]any, 0, len(infos))
			for _, si := range infos {
				out = append(out, toNodeSocket(si))
			}
			s.respond(n, m, msgFetchSocketsResponse, field{"requestId", m.RequestID}, field{"sockets", out})
		case msgServerSideEmit:
			if len(m.Args) == 0 {
				return
			}
			event, _ := m.Args[0].(string)
			var ack func(any)
			if m.RequestID != "" {
				var once sync.Once
				ack = func(reply any) {
					once.Do(func() {
						s.respond(n, m, msgServerSideEmitResponse, field{"requestId", m.RequestID}, field{"packet", reply})
					})
				}
			}
			l.ServerSideEmit(event, m.Args[1:], ack)
		}
	})
}

func (s *Streams) onBroadcastWithAck(n *localNsp[streamsChannels], l socketio.Local, m *clusterMessage, b *socketio.Broadcast) {
	l.BroadcastWithAck(b, func(count int) {
		s.respond(n, m, msgBroadcastClientCount, field{"requestId", m.RequestID}, field{"clientCount", int64(count)})
	}, func(args []any) {
		var reply any
		if len(args) > 0 {
			reply = args[0]
		}
		s.respond(n, m, msgBroadcastAck, field{"requestId", m.RequestID}, field{"packet", reply})
	})
}

// respond publishes an answer on the requester's own channel.
func (s *Streams) respond(n *localNsp[streamsChannels], req *clusterMessage, typ int, fields ...field) {
	payload, err := encodeClusterMessage(typ, s.uid, req.Nsp, writeFields(fields...))
	if err == nil {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
		defer cancel()
		err = s.rdb.Publish(ctx, s.cfg.Key+"#"+req.Nsp+"#"+req.UID+"#", payload).Err()
	}
	if err != nil {
		s.cfg.Logger.Debug("redis: answer not sent", "type", typ, "err", err)
	}
}

// connSet tracks a client's connections, to close them all at once.
type connSet struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
}

func (cs *connSet) add(c net.Conn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.done {
		_ = c.Close()
		return
	}
	if cs.conns == nil {
		cs.conns = make(map[net.Conn]struct{})
	}
	cs.conns[c] = struct{}{}
}

func (cs *connSet) closeAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.done = true
	for c := range cs.conns {
		_ = c.Close()
	}
	cs.conns = nil
}
