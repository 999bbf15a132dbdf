package engineio

import (
	"context"
	"sync"
	"time"
)

// drainStep is the finest step of Drain's spread: sessions due within it
// of each other are closed together, so a spread over many sessions takes
// a timer per step, not one per session.
const drainStep = 10 * time.Millisecond

// Drain refuses new sessions from now on (a handshake gets 503, as after
// Shutdown) and closes the open ones with reason "server shutting down",
// each after its receiver's OnDrain when it is a Drainer:
// a WebSocket gets close code 1001 (going away) and a pending long-poll
// the close packet, so the client sees a transport close, which it
// recovers from by reconnecting (elsewhere, behind a load balancer). The
// closes are spread evenly over spread, on the engine's clock, so that the
// clients do not all reconnect at the same moment; when ctx ends first,
// the rest are closed at once. It returns how many sessions it closed,
// once their goroutines have ended (or with ctx's error when ctx ends
// first). Safe to call twice, and before or after Shutdown, which still
// releases what the engine owns.
func (s *Server) Drain(ctx context.Context, spread time.Duration) (int, error) {
	conns := s.refuseNew()
	n := len(conns)
	start := s.clock.Now()
	var closing sync.WaitGroup
	for i := 0; i < n; {
		// Close every session due by now: the i-th at spread*i/n.
		elapsed := s.clock.Now().Sub(start)
		if ctx.Err() != nil {
			elapsed = spread
		}
		for ; i < n && (spread <= 0 || spread*time.Duration(i)/time.Duration(n) <= elapsed); i++ {
			c := conns[i]
			conns[i] = nil
			closing.Go(func() { s.drainConn(ctx, c) })
		}
		if i < n {
			next := spread * time.Duration(i) / time.Duration(n)
			s.sleep(ctx, max(next-elapsed, drainStep))
		}
	}
	closing.Wait() // bounded: OnDrain returns when ctx ends
	return n, s.wait(ctx)
}

// drainConn closes c for Drain, after its receiver's OnDrain.
func (s *Server) drainConn(ctx context.Context, c *Conn) {
	c.recvMu.Lock()
	d, _ := c.recv.(Drainer)
	c.recvMu.Unlock()
	if d != nil {
		d.OnDrain(ctx, ReasonServerShutdown)
	}
	c.closeNow(ReasonServerShutdown)
}

// StopAccepting refuses new sessions from now on (a handshake gets 503, as
// after Shutdown), leaving the open ones be: the first step of a drain,
// before Drain closes them.
func (s *Server) StopAccepting() { s.refuseNew() }

// sleep waits d on the engine's clock, or until ctx ends.
func (s *Server) sleep(ctx context.Context, d time.Duration) {
	fired := make(chan struct{})
	t := s.clock.AfterFunc(d, func() { close(fired) })
	select {
	case <-fired:
	case <-ctx.Done():
		t.Stop()
	}
}

// wait waits until every session's goroutines have ended, or ctx ends.
func (s *Server) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
