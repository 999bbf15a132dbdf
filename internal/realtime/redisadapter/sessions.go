package redisadapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventide/realtime/internal/socketio"
)

// Connection-state recovery on the streams adapter: the session format and
// the replay of missed broadcasts, for the recovery code (see Session in
// streams_wire.go for the format).

// sessionStore keeps recovery sessions in Redis, in the format of Node's
// streams adapter (see Session); both brokers embed it (ADR 0023).
type sessionStore struct {
	rdb    *redis.Client
	prefix string
}

// PersistSession implements socketio.SessionStore: it keeps a socket's
// session for ttl, under SessionKeyPrefix + pid, as Node's streams adapter
// does (SET ... PX).
func (st sessionStore) PersistSession(ctx context.Context, sess Session, ttl time.Duration) error {
	v, err := encodeSession(sess)
	if err != nil {
		return err
	}
	return st.rdb.Do(ctx, sessionSetArgs(st.prefix, sess.PID, v, ttl.Milliseconds())...).Err()
}

// restorePages bounds the XRANGE pages of one restore, as Node bounds its
// calls: entries added faster than they are read would loop forever.
const restorePages = 100

var _ socketio.LiveSessionStore = (*Streams)(nil)

// TakeSession implements socketio.SessionStore: GET and DEL in one
// transaction, so a session is used once, whichever node asks.
func (st sessionStore) TakeSession(ctx context.Context, pid string) (Session, bool, error) {
	var get *redis.StringCmd
	if _, err := st.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, st.prefix+pid)
		p.Del(ctx, st.prefix+pid)
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return Session{}, false, fmt.Errorf("redisadapter: take session: %w", err)
	}
	raw, err := get.Result()
	if errors.Is(err, redis.Nil) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, err
	}
	sess, err := decodeSession(raw)
	if err != nil {
		return Session{}, false, err
	}
	return sess, true, nil
}

// DropSession implements socketio.SessionStore.
func (st sessionStore) DropSession(ctx context.Context, pid string) error {
	return st.rdb.Del(ctx, st.prefix+pid).Err()
}

// RefreshSessions implements socketio.LiveSessionStore: one pipeline of
// PEXPIRE, one round trip for the batch.
func (st sessionStore) RefreshSessions(ctx context.Context, pids []string, ttl time.Duration) error {
	_, err := st.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, pid := range pids {
			p.PExpire(ctx, st.prefix+pid, ttl)
		}
		return nil
	})
	return err
}

// Missed implements socketio.SessionStore: the broadcasts of nsp in the
// stream after offset, each with its entry id as Offset; ok is false when
// offset is not (or no longer) in the stream.
func (s *Streams) Missed(ctx context.Context, nsp, offset string) ([]*socketio.Broadcast, bool, error) {
	return missedIn(ctx, s.rdb, s.cfg.Key, nsp, offset, s.cfg.ReadCount)
}

// missedIn is Missed on stream: the offset must be an entry of it.
func missedIn(ctx context.Context, rdb *redis.Client, stream, nsp, offset string, count int64) ([]*socketio.Broadcast, bool, error) {
	if !validOffset(offset) {
		return nil, false, nil
	}
	at, err := rdb.XRange(ctx, stream, offset, offset).Result()
	if err != nil {
		return nil, false, fmt.Errorf("redisadapter: missed: %w", err)
	}
	if len(at) == 0 {
		return nil, false, nil
	}
	missed, err := readAfter(ctx, rdb, stream, nsp, offset, count, nil)
	if err != nil {
		return nil, false, err
	}
	return missed, true, nil
}

// entryGap is the type of a classic recovery stream's gap marker: a
// broadcast of a Node node or an emitter, which has no entry of its own
// (classic.go).
const entryGap = "gap"

// readAfter returns the broadcasts of nsp in stream after offset that a
// socket in rooms gets (every one when rooms is nil), and the gap markers
// as broadcasts without Packet.
func readAfter(ctx context.Context, rdb *redis.Client, stream, nsp, offset string, count int64, rooms []string) ([]*socketio.Broadcast, error) {
	var missed []*socketio.Broadcast
	from := offset
	for range restorePages {
		entries, err := rdb.XRangeN(ctx, stream, "("+from, "+", count).Result()
		if err != nil {
			return nil, fmt.Errorf("redisadapter: read the stream: %w", err)
		}
		if len(entries) == 0 {
			break
		}
		for _, e := range entries {
			from = e.ID
			if e.Values["nsp"] != nsp {
				continue
			}
			if e.Values["type"] == entryGap {
				var o wireOpts
				data, _ := e.Values["data"].(string)
				if json.Unmarshal([]byte(data), &o) == nil {
					missed = append(missed, &socketio.Broadcast{Namespace: nsp, Rooms: o.Rooms, Except: o.Except, Offset: e.ID})
				}
				continue
			}
			if e.Values["type"] != strconv.Itoa(msgBroadcast) {
				continue
			}
			m, err := decodeEntry(e.ID, e.Values)
			if err != nil || m.Packet == nil || (rooms != nil && !includes(rooms, m.Opts)) {
				continue
			}
			b := broadcastOf(m.Packet, m.Opts)
			b.Namespace, b.Offset = nsp, e.ID
			missed = append(missed, b)
		}
	}
	return missed, nil
}

// RestoreSession takes (reads and deletes) the session of pid and returns
// the broadcasts of namespace nsp after offset that it would have got (its
// rooms, not excepted), in stream order, each with its Offset. ok is false
// when the session is gone (expired, or taken) or the offset is no longer
// in the stream (trimmed): the client cannot be recovered.
func (s *Streams) RestoreSession(ctx context.Context, nsp, pid, offset string) (sess Session, missed []*socketio.Broadcast, ok bool, err error) {
	if !validOffset(offset) {
		return Session{}, nil, false, nil
	}
	sess, ok, err = s.TakeSession(ctx, pid)
	if !ok || err != nil {
		return Session{}, nil, false, err
	}
	at, err := s.rdb.XRange(ctx, s.cfg.Key, offset, offset).Result()
	if err != nil {
		return Session{}, nil, false, fmt.Errorf("redisadapter: restore session: %w", err)
	}
	if len(at) == 0 {
		return Session{}, nil, false, nil
	}
	if missed, err = readAfter(ctx, s.rdb, s.cfg.Key, nsp, offset, s.cfg.ReadCount, sess.Rooms); err != nil {
		return Session{}, nil, false, err
	}
	return sess, missed, true, nil
}

// validOffset reports whether offset is a stream entry id, <ms>-<seq>.
func validOffset(offset string) bool {
	ms, seq, found := cut(offset)
	return found && digits(ms) && digits(seq)
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// includes reports whether a socket in rooms gets a broadcast with opts.
func includes(rooms []string, o wireOpts) bool {
	in := len(o.Rooms) == 0
	for _, r := range rooms {
		for _, x := range o.Except {
			if r == x {
				return false
			}
		}
		if !in {
			for _, want := range o.Rooms {
				if r == want {
					in = true
				}
			}
		}
	}
	return in
}
