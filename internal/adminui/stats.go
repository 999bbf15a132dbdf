package adminui

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// stats is this node's "server_stats". withEvents takes the aggregated
// events gathered since the last stats (the periodic broadcast); without,
// the list is empty (the stats a new UI gets at once).
func (u *UI) stats(withEvents bool) map[string]any {
	now := u.cfg.Now()
	events := []any{}
	if withEvents {
		c := u.io.Counters()
		u.events.push(now, "packetsIn", "", int(c.PacketsIn-u.last.PacketsIn))
		u.events.push(now, "bytesIn", "", int(c.BytesIn-u.last.BytesIn))
		u.events.push(now, "packetsOut", "", int(c.PacketsOut-u.last.PacketsOut))
		u.events.push(now, "bytesOut", "", int(c.BytesOut-u.last.BytesOut))
		u.last = c
		events = u.events.take()
	}
	nsps := []any{}
	for _, n := range u.io.Namespaces() {
		nsps = append(nsps, map[string]any{"name": n.Name(), "socketsCount": n.SocketsLen()})
	}
	eng := u.io.Engine()
	return map[string]any{
		"serverId":            u.serverID,
		"hostname":            u.hostname,
		"pid":                 u.pid,
		"uptime":              now.Sub(u.started).Seconds(),
		"clientsCount":        eng.Count(),
		"pollingClientsCount": eng.CountPolling(),
		"aggregatedEvents":    events,
		"namespaces":          nsps,
	}
}

// eventBuffer counts events per second, type and subtype until the next
// stats take them (Node's EventBuffer). Its size is bounded by the seconds
// between two stats times the kinds of events and close reasons.
type eventBuffer struct {
	mu   sync.Mutex
	list []aggregated
}

type aggregated struct {
	timestamp    int64 // milliseconds, a whole second
	typ, subType string
	count        int
}

func (b *eventBuffer) push(t time.Time, typ, subType string, count int) {
	if count <= 0 {
		return
	}
	ts := t.Truncate(time.Second).UnixMilli()
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.list {
		if e := &b.list[i]; e.timestamp == ts && e.typ == typ && e.subType == subType {
			e.count += count
			return
		}
	}
	b.list = append(b.list, aggregated{ts, typ, subType, count})
}

// take returns the events as the UI reads them and empties the buffer.
func (b *eventBuffer) take() []any {
	b.mu.Lock()
	list := b.list
	b.list = nil
	b.mu.Unlock()
	out := make([]any, 0, len(list))
	for _, e := range list {
		m := map[string]any{"timestamp": e.timestamp, "type": e.typ, "count": e.count}
		if e.subType != "" {
			m["subType"] = e.subType
		}
		out = append(out, m)
	}
	return out
}

// sessions are the login sessions of this node: a UI that logged in with
// the password logs in again with its session id after a reload. Bounded
// in number and age; kept in memory (a restarted node, or another node,
// asks for the password again).
type sessions struct {
	max int
	ttl time.Duration

	mu    sync.Mutex
	ids   map[string]time.Time // id -> when it expires
	order []string             // oldest first
}

// add makes a new session and returns its id.
func (s *sessions) add(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = make(map[string]time.Time)
	}
	for len(s.order) > 0 && (len(s.order) >= s.max || !now.Before(s.ids[s.order[0]])) {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
	s.ids[id] = now.Add(s.ttl)
	s.order = append(s.order, id)
	return id
}

// valid reports whether id is a session that has not expired.
func (s *sessions) valid(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.ids[id]
	return ok && now.Before(exp)
}
