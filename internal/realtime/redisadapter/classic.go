package redisadapter

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventide/realtime/internal/socketio"
)

// Classic is a socketio.Broker and socketio.Cluster on Redis pub/sub, in
// the wire format of @socket.io/redis-adapter 8.x: eventide nodes, Node
// nodes on that adapter and @socket.io/redis-emitter processes share a
// cluster. Like Node's, it loses what is published while a node cannot
// reach Redis; the relay publishes a change again until Publish succeeds.
type Classic struct {
	sessionStore
	cfg     Config
	uid     string
	rdb     *redis.Client
	health  *health
	sub     *subscriber
	pending pendingRequests
	nsps    locals[classicChannels]

	routeMu sync.RWMutex
	routes  map[string]route // channel or pattern -> its namespace and role

	closeOnce sync.Once
	closed    chan struct{}
}

var (
	_ socketio.Broker           = (*Classic)(nil)
	_ socketio.Cluster          = (*Classic)(nil)
	_ socketio.LiveSessionStore = (*Classic)(nil)
	_ socketio.HistoryKeeper    = (*Classic)(nil)
)

type route struct {
	nsp  string
	kind byte // 'b' broadcast pattern, 'q' request, 'r' response
}

// NewClassic connects to Redis (in the background: it does not wait for
// it) and returns the broker. Close it after the Socket.IO server's
// Shutdown.
func NewClassic(cfg Config) (*Classic, error) {
	cfg.defaults()
	routeLibraryLog(cfg.Logger)
	rdb, err := newClient(cfg.URL, 0)
	if err != nil {
		return nil, err
	}
	c := &Classic{
		sessionStore: sessionStore{rdb: rdb, prefix: cfg.SessionKeyPrefix},
		cfg:          cfg,
		uid:          newUID(3), // 6 characters, as Node's uid2(6)
		rdb:          rdb,
		health:       newHealth(cfg.Logger, "subscriber"),
		routes:       make(map[string]route),
		closed:       make(chan struct{}),
	}
	c.sub = newSubscriber(rdb, c.health, &c.cfg, c.onMessage)
	c.sub.onResubscribed = c.resync
	c.sub.start()
	return c, nil
}

// resync has each namespace fill what other nodes published while this
// node's subscriber was away (pub/sub keeps nothing): their sequenced
// broadcasts are read again from where the publisher keeps them
// (socketio.Resyncer; ADR 0027). Each runs on a goroutine of its own and
// outside the namespace's gate, so that an Unsubscribe or a Close never
// waits for it.
func (c *Classic) resync() {
	for _, n := range c.nsps.all() {
		var local socketio.Local
		n.with(func(l socketio.Local) { local = l })
		if r, ok := local.(socketio.Resyncer); ok {
			go r.ResyncStreams()
		}
	}
}

// UID returns this node's id in the cluster's messages.
func (c *Classic) UID() string { return c.uid }

// Ready returns nil when Redis is reachable, else why not (for /readyz).
func (c *Classic) Ready(context.Context) error { return c.health.err() }

// Subscribe implements socketio.Broker.
func (c *Classic) Subscribe(_ context.Context, local socketio.Local) error {
	if c.isClosed() {
		return errClosed
	}
	ch := newClassicChannels(c.cfg.Key, local.Name(), c.uid)
	if _, ok := c.nsps.add(local, ch); !ok {
		return fmt.Errorf("redisadapter: namespace %s already subscribed", local.Name())
	}
	c.routeMu.Lock()
	c.routes[ch.broadcast+"*"] = route{local.Name(), 'b'}
	c.routes[ch.request] = route{local.Name(), 'q'}
	c.routes[ch.response] = route{local.Name(), 'r'}
	c.routes[ch.specific] = route{local.Name(), 'r'}
	c.routeMu.Unlock()
	c.sub.add([]string{ch.request, ch.response, ch.specific}, []string{ch.broadcast + "*"})
	return nil
}

// Unsubscribe implements socketio.Broker.
func (c *Classic) Unsubscribe(_ context.Context, nsp string) error {
	n := c.nsps.del(nsp)
	if n == nil {
		return nil
	}
	ch := n.ch
	c.routeMu.Lock()
	for _, k := range []string{ch.broadcast + "*", ch.request, ch.response, ch.specific} {
		delete(c.routes, k)
	}
	c.routeMu.Unlock()
	c.sub.remove([]string{ch.request, ch.response, ch.specific}, []string{ch.broadcast + "*"})
	return nil
}

// Publish implements socketio.Broker: PUBLISH [uid, packet, opts] on the
// broadcast channel, or the room's when there is exactly one room.
func (c *Classic) Publish(ctx context.Context, b *socketio.Broadcast) (string, error) {
	if err := c.usable(); err != nil {
		return "", err
	}
	if b.Flags.Local {
		return "", nil
	}
	offset := ""
	if c.cfg.Recovery && socketio.Recordable(b) {
		// The recovery stream first: its entry id is the offset every
		// node delivers the broadcast with (ADR 0023).
		e, err := broadcastEntry(c.uid, b)
		if err != nil {
			return "", err
		}
		if offset, err = c.rdb.Do(ctx, xaddArgs(c.recoveryKey(), c.cfg.MaxLen, e)...).Text(); err != nil {
			return "", fmt.Errorf("redisadapter: xadd: %w", err)
		}
		withOffset := *b
		withOffset.Offset = offset
		b = &withOffset
	}
	payload, err := encodeClassicBroadcast(c.uid, b)
	if err != nil {
		return "", err
	}
	ch := c.channels(b.Namespace)
	if err := c.rdb.Publish(ctx, ch.channelFor(b.Rooms), payload).Err(); err != nil {
		return "", fmt.Errorf("redisadapter: publish: %w", err)
	}
	return offset, nil
}

// recoveryKey is the recovery stream's name (Config.Recovery).
func (c *Classic) recoveryKey() string { return c.cfg.Key + "-recovery" }

// KeepsHistory implements socketio.HistoryKeeper: with Config.Recovery,
// the recovery stream is the history and sessions are in Redis.
func (c *Classic) KeepsHistory() bool { return c.cfg.Recovery }

// Missed implements socketio.SessionStore on the recovery stream.
func (c *Classic) Missed(ctx context.Context, nsp, offset string) ([]*socketio.Broadcast, bool, error) {
	return missedIn(ctx, c.rdb, c.recoveryKey(), nsp, offset, c.cfg.ReadCount)
}

// markGap records in the recovery stream that a broadcast without offset
// (a Node node's, an emitter's) was delivered: a client that missed it
// cannot be recovered from the stream, and the gap says so (ADR 0023).
// Every eventide node that gets it writes one; repeats are harmless.
func (c *Classic) markGap(b *socketio.Broadcast) {
	o := wireOpts{Rooms: b.Rooms, Except: b.Except}
	e := streamEntry{UID: c.uid, Nsp: b.Namespace, Type: entryGap, Data: string(o.appendJSON(nil, false))}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
	defer cancel()
	if err := c.rdb.Do(ctx, xaddArgs(c.recoveryKey(), c.cfg.MaxLen, e)...).Err(); err != nil {
		c.cfg.Logger.Debug("redis: recovery gap not recorded", "err", err)
	}
}

func (c *Classic) channels(nsp string) classicChannels {
	if n := c.nsps.get(nsp); n != nil {
		return n.ch
	}
	return newClassicChannels(c.cfg.Key, nsp, c.uid)
}

// usable fails when the broker is closed, and at once while Redis is known
// to be unreachable.
func (c *Classic) usable() error {
	if c.isClosed() {
		return errClosed
	}
	if c.health.isDown() {
		return c.health.err()
	}
	return nil
}

func (c *Classic) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// Close implements socketio.Broker; safe twice.
func (c *Classic) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		c.sub.close()
		c.pending.clear()
		err = c.rdb.Close()
	})
	return err
}

// onMessage is the subscriber's handler: broadcasts are delivered here, in
// order; requests and responses are handled on goroutines of their own, as
// answering takes a round trip to Redis.
func (c *Classic) onMessage(m *redis.Message) {
	key := m.Channel
	if m.Pattern != "" {
		key = m.Pattern
	}
	c.routeMu.RLock()
	r, ok := c.routes[key]
	c.routeMu.RUnlock()
	if !ok {
		return
	}
	n := c.nsps.get(r.nsp)
	if n == nil {
		return
	}
	switch r.kind {
	case 'b':
		c.onBroadcast(n, m.Channel, []byte(m.Payload))
	case 'q':
		go c.onRequest(n, []byte(m.Payload))
	case 'r':
		c.onResponse(n, []byte(m.Payload))
	}
}

func (c *Classic) onBroadcast(n *localNsp[classicChannels], channel string, payload []byte) {
	if !strings.HasPrefix(channel, n.ch.broadcast) {
		return
	}
	room := strings.TrimSuffix(channel[len(n.ch.broadcast):], "#")
	n.with(func(l socketio.Local) {
		// A room's message for a room this node does not host is
		// dropped undecoded.
		if room != "" && !l.HasRoom(room) {
			return
		}
		if uid, err := classicUID(payload); err != nil || uid == c.uid {
			return
		}
		_, b, err := decodeClassicBroadcast(payload)
		if err != nil {
			c.cfg.Logger.Warn("redis: undecodable broadcast dropped", "channel", channel, "err", err)
			return
		}
		if b.Namespace != l.Name() {
			return
		}
		if c.cfg.Recovery && b.Offset == "" && socketio.Recordable(b) {
			go c.markGap(b)
		}
		l.Deliver(b)
	})
}

// onRequest answers another node's (or an emitter's) request.
func (c *Classic) onRequest(n *localNsp[classicChannels], payload []byte) {
	req, err := decodeClassicRequest(payload, n.local.Name())
	if err != nil {
		c.cfg.Logger.Warn("redis: undecodable request dropped", "channel", n.ch.request, "err", err)
		return
	}
	if req.UID == c.uid {
		return // this node's own: the namespace did its part
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
	defer cancel()
	respond := func(v any) {
		b, err := marshalJSON(v)
		if err == nil {
			err = c.publishResponse(ctx, n, req, b)
		}
		if err != nil {
			c.cfg.Logger.Debug("redis: response not sent", "type", req.Type, "err", err)
		}
	}
	n.with(func(l socketio.Local) {
		switch req.Type {
		case reqSockets:
			var ids []string
			for _, s := range l.FetchSockets(socketio.Selector{Rooms: req.Rooms}) {
				ids = append(ids, s.ID)
			}
			respond(socketsResponse{RequestID: req.RequestID, Sockets: nonNilStrings(ids)})
		case reqAllRooms:
			respond(allRoomsResponse{RequestID: req.RequestID, Rooms: nonNilStrings(l.Rooms())})
		case reqRemoteFetch:
			var sel socketio.Selector
			if req.Opts != nil {
				sel = req.Opts.selector()
			}
			infos := l.FetchSockets(sel)
			out := make([]nodeSocket, 0, len(infos))
			for _, si := range infos {
				out = append(out, toNodeSocket(si))
			}
			respond(fetchResponse{RequestID: req.RequestID, Sockets: out})
		case reqRemoteJoin, reqRemoteLeave, reqRemoteDisconnect:
			c.onRoomsRequest(l, req, respond)
		case reqServerSideEmit:
			c.onServerSideEmit(ctx, n, l, req)
		case reqBroadcast:
			c.onBroadcastWithAck(n, l, req)
		}
	})
}

// onRoomsRequest serves socketsJoin, socketsLeave and disconnectSockets:
// with opts for the selected sockets (no answer); with sid (adapters before
// 7.x) for one socket, answered when it is here.
func (c *Classic) onRoomsRequest(l socketio.Local, req *classicRequest, respond func(any)) {
	sel := socketio.Selector{Rooms: []string{req.SID}}
	rooms := []string(req.Rooms)
	byOpts := req.Opts != nil
	if byOpts {
		sel = req.Opts.selector()
	} else {
		if req.SID == "" || !l.HasRoom(req.SID) {
			return
		}
		rooms = []string{req.Room}
	}
	switch req.Type {
	case reqRemoteJoin:
		l.AddSockets(sel, rooms)
	case reqRemoteLeave:
		l.DelSockets(sel, rooms)
	case reqRemoteDisconnect:
		l.DisconnectSockets(sel, req.Close != nil && *req.Close)
	}
	if !byOpts {
		respond(doneResponse{RequestID: req.RequestID})
	}
}

func (c *Classic) onServerSideEmit(ctx context.Context, n *localNsp[classicChannels], l socketio.Local, req *classicRequest) {
	data, _ := req.Data.([]any)
	if len(data) == 0 {
		return
	}
	event, _ := data[0].(string)
	var ack func(reply any)
	if req.RequestID != "" {
		var once sync.Once
		ack = func(reply any) {
			once.Do(func() {
				b, err := marshalJSON(serverSideEmitResponse{Type: reqServerSideEmit, RequestID: req.RequestID, Data: reply})
				if err == nil {
					// Node answers these on the shared channel.
					err = c.rdb.Publish(ctx, n.ch.response, b).Err()
				}
				if err != nil {
					c.cfg.Logger.Debug("redis: serverSideEmit answer not sent", "err", err)
				}
			})
		}
	}
	l.ServerSideEmit(event, data[1:], ack)
}

// onBroadcastWithAck sends a broadcast with acks to this node's sockets and
// answers its count and each client's ack.
func (c *Classic) onBroadcastWithAck(n *localNsp[classicChannels], l socketio.Local, req *classicRequest) {
	if req.Packet == nil || req.Opts == nil || c.pending.has(req.RequestID) {
		return
	}
	timeout := time.Duration(req.Opts.Timeout) * time.Millisecond
	if timeout <= 0 {
		timeout = c.cfg.RequestTimeout
	}
	// The acks come until the requester's timeout; then the context is
	// released.
	ctx, cancel := context.WithTimeout(context.Background(), timeout+c.cfg.RequestTimeout)
	context.AfterFunc(ctx, cancel)
	b := broadcastOf(req.Packet, *req.Opts)
	b.Namespace = l.Name()
	l.BroadcastWithAck(b, func(count int) {
		msg, err := marshalJSON(clientCountResponse{Type: reqBroadcastClientCount, RequestID: req.RequestID, ClientCount: count})
		if err == nil {
			err = c.publishResponse(ctx, n, req, msg)
		}
		if err != nil {
			c.cfg.Logger.Debug("redis: client count not sent", "err", err)
		}
	}, func(args []any) {
		var reply any
		if len(args) > 0 {
			reply = args[0]
		}
		msg, err := encodeBroadcastAck(req.RequestID, reply)
		if err == nil {
			err = c.publishResponse(ctx, n, req, msg)
		}
		if err != nil {
			c.cfg.Logger.Debug("redis: ack not sent", "err", err)
		}
	})
}

func (c *Classic) publishResponse(ctx context.Context, n *localNsp[classicChannels], req *classicRequest, payload []byte) error {
	channel := n.ch.response
	if c.cfg.SpecificResponseChannel && req.UID != "" && req.UID != emitterUID {
		channel = n.ch.response + req.UID + "#"
	}
	return c.rdb.Publish(ctx, channel, payload).Err()
}

// onResponse hands a response to this node's pending request.
func (c *Classic) onResponse(n *localNsp[classicChannels], payload []byte) {
	resp, err := decodeClassicRequest(payload, n.local.Name())
	if err != nil || resp.RequestID == "" {
		return
	}
	c.pending.deliver(resp.RequestID, resp)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
