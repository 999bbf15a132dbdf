package engineio

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/eventide/realtime/internal/ws"
)

// resources are what a Server owns of the layer below: the ws.Poller that
// watches its idle WebSockets (one epoll set and its goroutine) and the
// ws.Batcher that writes its small broadcasts (the io_uring rings). Each is
// made on first use, so a server that never sees a WebSocket has neither,
// and closed by Shutdown; several servers in one process (tests) each
// have their own.
type resources struct {
	mu        sync.Mutex
	closed    bool
	pollerErr error // NewPoller failed: connections are read by goroutines

	poller  atomic.Pointer[ws.Poller]
	batcher atomic.Pointer[ws.Batcher]
}

// noBatch writes each connection with its own send(2): the zero Batcher,
// used once the server is shut down.
var noBatch ws.Batcher

// poller returns the server's poller, making it on first use; nil where
// there is none (no epoll, or shut down): read from a goroutine then.
func (s *Server) poller() *ws.Poller {
	if p := s.res.poller.Load(); p != nil {
		return p
	}
	r := &s.res
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.poller.Load(); p != nil || r.closed || r.pollerErr != nil {
		return p
	}
	p, err := ws.NewPoller()
	if err != nil {
		r.pollerErr = err
		s.log.Info("engineio: idle websockets are read by goroutines", "reason", err.Error())
		return nil
	}
	p.AfterEvents(s.answerReadPolls)
	r.poller.Store(p)
	return p
}

// batcher returns the server's batcher, making it on first use (which sets
// up io_uring and probes the kernel).
func (s *Server) batcher() *ws.Batcher {
	if b := s.res.batcher.Load(); b != nil {
		return b
	}
	r := &s.res
	r.mu.Lock()
	defer r.mu.Unlock()
	if b := r.batcher.Load(); b != nil {
		return b
	}
	if r.closed {
		return &noBatch
	}
	b := ws.NewBatcher()
	r.batcher.Store(b)
	return b
}

// BatchPath reports how the server writes a small broadcast: ws.BatchIOURing,
// or ws.BatchSend with the reason io_uring is not used. The first call sets
// up io_uring and probes the kernel; serve calls it at start to log it.
func (s *Server) BatchPath() (path, reason string) { return s.batcher().Path() }

// close releases the poller and the batcher (Shutdown); later uses get
// none. A batch in flight finishes first.
func (r *resources) close(log *slog.Logger) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	p, b := r.poller.Swap(nil), r.batcher.Swap(&noBatch)
	r.mu.Unlock()
	if p != nil {
		if err := p.Close(); err != nil {
			log.Warn("engineio: closing the poller", "err", err)
		}
	}
	if b != nil {
		_ = b.Close()
	}
}
