package redisadapter

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
)

// subscriber is a broker's one pub/sub connection. It keeps the channels
// and patterns its namespaces asked for and subscribes to them again after
// every reconnection, so it survives Redis restarts; it pings Redis when
// nothing came for a while, to notice a dead connection; and it reports to
// the broker's health. Messages are handed to handle one at a time, in the
// order Redis sent them.
type subscriber struct {
	rdb    *redis.Client
	health *health
	part   string
	cfg    *Config
	handle func(m *redis.Message)

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	channels map[string]struct{}
	patterns map[string]struct{}
	ps       *redis.PubSub // the current connection's, nil between them

	// onResubscribed, when set, is called on the loop's goroutine once a
	// connection after the first is subscribed to everything (what was
	// published before then on other nodes never reached this one); it
	// must not wait. up: a connection was subscribed before (the loop's).
	onResubscribed func()
	up             bool
}

func newSubscriber(rdb *redis.Client, h *health, cfg *Config, handle func(m *redis.Message)) *subscriber {
	ctx, cancel := context.WithCancel(context.Background())
	return &subscriber{
		rdb: rdb, health: h, part: "subscriber", cfg: cfg, handle: handle,
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		channels: make(map[string]struct{}), patterns: make(map[string]struct{}),
	}
}

func (s *subscriber) start() { go s.run() }

// add subscribes to channels and patterns now if connected, and after
// every reconnection. It does not wait for Redis.
func (s *subscriber) add(channels, patterns []string) {
	s.mu.Lock()
	for _, c := range channels {
		s.channels[c] = struct{}{}
	}
	for _, p := range patterns {
		s.patterns[p] = struct{}{}
	}
	ps := s.ps
	s.mu.Unlock()
	if ps != nil {
		go s.subscribe(ps, channels, patterns) // a failure is the receive loop's to see
	}
}

// remove unsubscribes from channels and patterns.
func (s *subscriber) remove(channels, patterns []string) {
	s.mu.Lock()
	for _, c := range channels {
		delete(s.channels, c)
	}
	for _, p := range patterns {
		delete(s.patterns, p)
	}
	ps := s.ps
	s.mu.Unlock()
	if ps != nil {
		if len(channels) > 0 {
			_ = ps.Unsubscribe(s.ctx, channels...)
		}
		if len(patterns) > 0 {
			_ = ps.PUnsubscribe(s.ctx, patterns...)
		}
	}
}

// subscribe sends PSUBSCRIBE before SUBSCRIBE: Redis runs a connection's
// commands in order, so once another node counts this one on a channel
// (PUBSUB NUMSUB, serverCount) its patterns are in place too.
func (s *subscriber) subscribe(ps *redis.PubSub, channels, patterns []string) error {
	if len(patterns) > 0 {
		if err := ps.PSubscribe(s.ctx, patterns...); err != nil {
			return err
		}
	}
	if len(channels) > 0 {
		return ps.Subscribe(s.ctx, channels...)
	}
	return nil
}

// close stops the loop and waits for it; safe twice.
func (s *subscriber) close() {
	s.cancel()
	s.mu.Lock()
	if s.ps != nil {
		_ = s.ps.Close() // unblocks the receive
	}
	s.mu.Unlock()
	<-s.done
}

func (s *subscriber) run() {
	defer close(s.done)
	var b backoff
	for s.ctx.Err() == nil {
		s.mu.Lock()
		ps := s.rdb.Subscribe(s.ctx)
		channels := slices.Collect(maps.Keys(s.channels))
		patterns := slices.Collect(maps.Keys(s.patterns))
		s.ps = ps
		s.mu.Unlock()

		err := s.subscribe(ps, channels, patterns)
		if err == nil {
			// The pong says the connection works even with nothing to
			// subscribe to yet.
			err = ps.Ping(s.ctx)
		}
		if err == nil {
			err = s.receive(ps, &b)
		}
		s.mu.Lock()
		s.ps = nil
		s.mu.Unlock()
		_ = ps.Close()
		if s.ctx.Err() != nil {
			return
		}
		s.health.set(s.part, err)
		if !b.wait(s.ctx) {
			return
		}
	}
}

// receive hands messages to handle until the connection fails.
func (s *subscriber) receive(ps *redis.PubSub, b *backoff) error {
	pinged, reported, subscribed := false, false, false
	for {
		msg, err := ps.ReceiveTimeout(s.ctx, s.cfg.HealthInterval)
		if err != nil {
			if s.ctx.Err() != nil {
				return err
			}
			if isTimeout(err) && !pinged {
				// Quiet for a while: a ping tells a dead connection
				// from an idle one.
				pinged = true
				if err := ps.Ping(s.ctx); err != nil {
					return err
				}
				continue
			}
			return err
		}
		if !reported { // subscribed (or answered) on this connection
			reported = true
			s.health.set(s.part, nil)
			b.reset()
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Message:
			s.handle(m)
		case *redis.Pong:
			if !subscribed {
				// The answer to run's ping: Redis ran this connection's
				// subscriptions before it.
				subscribed = true
				if s.up && s.onResubscribed != nil {
					s.onResubscribed()
				}
				s.up = true
			}
		}
	}
}
