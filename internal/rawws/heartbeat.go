package rawws

import (
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// Clock is the time source of the heartbeat, the deadlines and the reply
// timestamps. Tests drive a fake one; nil in Config means the real clock.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed, as
	// time.AfterFunc does.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending Clock.AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether it
	// did.
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// pingFrame is the heartbeat's ping, encoded once for every client.
var pingFrame = ws.AppendFrame(nil, ws.OpPing, nil)

// The heartbeat and the read deadlines are checked by one sweep over all
// clients every tick (a quarter of the shortest of the durations involved),
// not by timers per connection: a client costs a few words for them, and a
// deadline is met within one tick after it passes. The sweep sees what the
// reader did through counters the reader bumps (client.frames, started,
// finished), so the reader never reads the clock.
//
// beat is the sweep's own record of one client; only the sweep touches it
// once the client is registered.
type beat struct {
	frames     uint64    // client.frames at the last change seen
	quietSince time.Time // when the sweep last saw a new frame (or the connection opened)
	pingAt     time.Time // when the outstanding ping was queued; zero if none

	started  uint64    // the message in progress whose start is recorded
	msgSince time.Time // when the sweep first saw that message in progress

	finished uint64    // client.finished at the last change seen
	lastMsg  time.Time // when the sweep last saw a message complete (or the connection opened)
}

// sweepTick is how often the sweep runs for cfg: a quarter of the shortest
// enabled duration, at least 10 ms; 0 when nothing is enabled.
func sweepTick(cfg Config) time.Duration {
	ds := []time.Duration{cfg.MessageTimeout, cfg.IdleTimeout}
	if cfg.PingInterval > 0 {
		ds = append(ds, cfg.PingInterval, cfg.PingTimeout)
	}
	var shortest time.Duration
	for _, d := range ds {
		if d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	if shortest == 0 {
		return 0
	}
	return max(shortest/4, 10*time.Millisecond)
}

// startSweeps arms the first sweep (New); Shutdown stops them.
func (s *Service) startSweeps() {
	if s.tick <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweeper = s.clock.AfterFunc(s.tick, s.sweepAndRearm)
}

func (s *Service) sweepAndRearm() {
	s.sweep(s.clock.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.sweeper = s.clock.AfterFunc(s.tick, s.sweepAndRearm)
	}
}

// sweep pings the clients that have been quiet for PingInterval and ends
// those past a deadline. It never blocks on a client: a ping is queued like
// any frame, and a close frame is written by a goroutine of its own.
func (s *Service) sweep(now time.Time) {
	for _, c := range s.snapshot() {
		if c.isClosed() {
			continue
		}
		limit, code, reason := s.check(c, now)
		switch {
		case limit == "ping":
			_ = s.enqueue(c, pingFrame) // an overflow ends the client, and is reported
		case limit != "":
			s.cfg.Limits.Hit(limit, c.remote, "client", c.id)
			c.end(code, reason)
		}
	}
}

// check updates c's record from its counters and says what is due: a limit
// name with the close code and reason, "ping", or nothing.
func (s *Service) check(c *client, now time.Time) (limit string, code int, reason string) {
	b := &c.beat
	frames, started, finished := c.frames.Load(), c.started.Load(), c.finished.Load()
	if frames != b.frames {
		b.frames, b.quietSince, b.pingAt = frames, now, time.Time{}
	}
	if finished != b.finished {
		b.finished, b.lastMsg = finished, now
	}
	inMessage := started != finished
	if inMessage && started != b.started {
		b.started, b.msgSince = started, now
	}
	cfg := &s.cfg
	switch {
	case inMessage && cfg.MessageTimeout > 0 && now.Sub(b.msgSince) >= cfg.MessageTimeout:
		return LimitMessageTimeout, ws.ClosePolicyViolation, "message not completed in time"
	case !inMessage && cfg.IdleTimeout > 0 && now.Sub(b.lastMsg) >= cfg.IdleTimeout:
		return LimitIdleTimeout, ws.CloseGoingAway, "idle timeout"
	case cfg.PingInterval <= 0:
		return "", 0, ""
	case !b.pingAt.IsZero() && now.Sub(b.pingAt) >= cfg.PingTimeout:
		return LimitPingTimeout, ws.CloseGoingAway, "ping timeout"
	case b.pingAt.IsZero() && now.Sub(b.quietSince) >= cfg.PingInterval:
		b.pingAt = now
		return "ping", 0, ""
	}
	return "", 0, ""
}
