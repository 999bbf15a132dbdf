package socketio

import (
	"context"
	"time"
)

// The recovery of a session at CONNECT (ADR 0023). The order of the steps
// is what makes a recovered client get every missed event once, in order:
//
//  1. take the session (it is gone for anyone else);
//  2. register the socket as pending with the session's rooms (those the
//     namespace's filter keeps): from now on, what is delivered to them is
//     kept in the socket's buffer;
//  3. read the history after the client's offset (memory, or the broker's
//     stream): everything delivered before step 2 is in it, since a
//     broadcast gets its offset (is recorded) before it is delivered;
//  4. under the namespace's write lock, which no delivery holds: make the
//     socket live in its rooms, and send CONNECT, the missed events and
//     the buffered ones the history did not already give (later offsets).

// restored is a session taken for a socket, with what it missed.
type restored struct {
	sess   Session
	pr     *pendingRecovery
	missed []*Broadcast
	last   string // the offset through which missed answers
}

// restore tries to recover pid's session for s (the middleware has run).
// On success s is pending in the namespace; complete or cancel it.
func (n *Namespace) restore(s *Socket, pid, offset string) *restored {
	rec := n.server.recovery
	ctx, cancel := context.WithTimeout(context.Background(), recoveryIOTimeout)
	defer cancel()
	var sess Session
	var ok bool
	if rec.mem != nil {
		sess, ok = rec.mem.take(pid)
	} else {
		var err error
		if sess, ok, err = rec.store.TakeSession(ctx, pid); err != nil {
			n.server.log.Warn("socketio: recovery: session not read", "nsp", n.name, "err", err)
		}
	}
	if !ok || sess.SID == "" || sess.PID != pid {
		return nil
	}
	// A session whose socket is connected here is in use (a live session
	// of a LiveSessionStore, presented again): not taken over. Its record
	// is written back, for a crash of this node.
	n.mu.RLock()
	inUse := n.sockets[sess.SID]
	n.mu.RUnlock()
	if inUse != nil && inUse.pid == sess.PID && inUse.Connected() {
		rec.keepLive(inUse)
		return nil
	}
	n.hmu.RLock()
	keep := n.keepRoom
	n.hmu.RUnlock()
	rooms := []string{sess.SID}
	for _, r := range sess.Rooms {
		if r == sess.SID || containsString(rooms, r) {
			continue
		}
		if keep == nil || keep(s, r) {
			rooms = append(rooms, r)
		}
	}
	pr := &pendingRecovery{rooms: rooms}
	n.pmu.Lock()
	if n.pending == nil {
		n.pending = make(map[*Socket]*pendingRecovery)
	}
	n.pending[s] = pr
	n.npending.Add(1)
	n.pmu.Unlock()

	var missed []*Broadcast
	last := offset
	if n.history != nil {
		missed, last, ok = n.history.after(n.name, offset)
	} else {
		var err error
		if missed, ok, err = rec.store.Missed(ctx, n.name, offset); err != nil {
			n.server.log.Warn("socketio: recovery: history not read", "nsp", n.name, "err", err)
		}
		if ok && len(missed) > 0 {
			last = missed[len(missed)-1].Offset
		}
	}
	for _, b := range missed {
		if b.Packet == nil && selects(rooms, b) {
			ok = false // a gap: an event it missed is not in the history
			break
		}
	}
	if !ok {
		n.cancelPending(s)
		return nil
	}
	return &restored{sess: sess, pr: pr, missed: missed, last: last}
}

// cancelPending forgets a pending socket.
func (n *Namespace) cancelPending(s *Socket) {
	n.pmu.Lock()
	if _, ok := n.pending[s]; ok {
		delete(n.pending, s)
		n.npending.Add(-1)
	}
	n.pmu.Unlock()
}

// completeRecovery makes a pending socket live with its session's sid,
// pid, data and rooms, and sends CONNECT, the missed events and those
// delivered while it was pending (step 4 above).
func (n *Namespace) completeRecovery(s *Socket, r *restored) {
	s.id, s.pid, s.recovered = r.sess.SID, r.sess.PID, true
	if r.sess.Data != nil {
		s.SetData(r.sess.Data)
	}
	c := s.client
	n.mu.Lock()
	n.cancelPending(s)
	s.state.Store(stateConnected)
	n.sockets[s.id] = s
	n.joinLocked(s, r.pr.rooms[1:], false)
	c.sendPacket(PacketConnect, n.name, map[string]any{"sid": s.id, "pid": s.pid})
	sent := 0
	seen := replayed{}
	for _, b := range r.missed {
		if b.Packet != nil && selects(r.pr.rooms, b) && seen.first(streamSeq{b.Stream, b.Seq}) {
			_ = c.send(b.Packet.withOffset(b.Offset))
			sent++
		}
	}
	for i, p := range r.pr.buf {
		if off := r.pr.offs[i]; (off == "" || offsetAfter(off, r.last)) && seen.first(r.pr.seqs[i]) {
			_ = c.send(p)
			sent++
		}
	}
	n.mu.Unlock()
	n.server.log.Debug("socketio: connection state recovered", "sid", s.id, "nsp", n.name,
		"rooms", len(r.pr.rooms)-1, "missed", sent)
	n.server.recovery.keepLive(s)
}

// persistOnClose keeps the session of a socket closing for reason, when
// the reason is recoverable (before it leaves its rooms); it drops its live
// session otherwise.
func (r *recovery) persistOnClose(s *Socket, reason string) {
	if r == nil || s.pid == "" {
		return
	}
	if !Recoverable(reason) {
		if r.mem != nil {
			r.mem.drop(s.pid)
		} else if r.live != nil {
			ctx, cancel := context.WithTimeout(context.Background(), recoveryIOTimeout)
			defer cancel()
			_ = r.live.DropSession(ctx, s.pid)
		}
		return
	}
	rooms := s.nsp.socketRooms(s)
	if rooms == nil {
		return
	}
	sess := Session{SID: s.id, PID: s.pid, Rooms: rooms, Data: s.Data()}
	if r.mem != nil {
		r.mem.put(sess)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), recoveryIOTimeout)
	defer cancel()
	if err := r.store.PersistSession(ctx, sess, r.cfg.Window); err != nil {
		s.nsp.server.log.Warn("socketio: recovery: session not kept", "sid", s.id, "err", err)
	}
}

// liveTTL is the TTL of a connected socket's session in a
// LiveSessionStore: refreshed every liveRefresh, it outlives a crash by the
// window at least.
func (r *recovery) liveTTL() time.Duration     { return r.cfg.Window + r.liveRefresh() }
func (r *recovery) liveRefresh() time.Duration { return r.cfg.Window / 2 }

// keepLive writes a connected socket's session to a LiveSessionStore
// (at connect, join and leave).
func (r *recovery) keepLive(s *Socket) {
	if r == nil || r.live == nil || s.pid == "" || !s.Connected() {
		return
	}
	rooms := s.nsp.socketRooms(s)
	if rooms == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), recoveryIOTimeout)
	defer cancel()
	sess := Session{SID: s.id, PID: s.pid, Rooms: rooms, Data: s.Data()}
	if err := r.live.PersistSession(ctx, sess, r.liveTTL()); err != nil {
		s.nsp.server.log.Debug("socketio: recovery: live session not kept", "sid", s.id, "err", err)
	}
}

// refreshBatch bounds the pids of one RefreshSessions call.
const refreshBatch = 1000

// refreshLive sets the TTL of every connected socket's live session
// again; the server calls it every liveRefresh.
func (s *Server) refreshLive() {
	r := s.recovery
	s.mu.RLock()
	nsps := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		nsps = append(nsps, n)
	}
	s.mu.RUnlock()
	var pids []string
	flush := func() {
		if len(pids) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), recoveryIOTimeout)
		defer cancel()
		if err := r.live.RefreshSessions(ctx, pids, r.liveTTL()); err != nil {
			s.log.Debug("socketio: recovery: live sessions not refreshed", "n", len(pids), "err", err)
		}
		pids = pids[:0]
	}
	for _, n := range nsps {
		for _, so := range n.Sockets() {
			if so.pid != "" {
				pids = append(pids, so.pid)
			}
			if len(pids) >= refreshBatch {
				flush()
			}
		}
	}
	flush()
}

// startLiveRefresh schedules refreshLive every liveRefresh until the
// server shuts down.
func (s *Server) startLiveRefresh() {
	r := s.recovery
	if r == nil || r.live == nil {
		return
	}
	var tick func()
	tick = func() {
		s.liveMu.Lock()
		stopped := s.liveStopped
		s.liveMu.Unlock()
		if stopped {
			return
		}
		s.refreshLive()
		s.liveMu.Lock()
		if !s.liveStopped {
			s.liveStop = s.cfg.AfterFunc(r.liveRefresh(), tick)
		}
		s.liveMu.Unlock()
	}
	s.liveMu.Lock()
	s.liveStop = s.cfg.AfterFunc(r.liveRefresh(), tick)
	s.liveMu.Unlock()
}

func (s *Server) stopLiveRefresh() {
	s.liveMu.Lock()
	s.liveStopped = true
	if s.liveStop != nil {
		s.liveStop()
	}
	s.liveMu.Unlock()
}
