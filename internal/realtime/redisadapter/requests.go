package redisadapter

import (
	"context"
	"sync"
	"time"
)

// pendingRequests are this node's requests waiting for the other nodes'
// responses, by request id. A response to a request that is not (or no
// longer) pending is another node's business, and dropped.
type pendingRequests struct {
	mu sync.Mutex
	m  map[string]func(resp any)
}

func (p *pendingRequests) add(id string, fn func(resp any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[string]func(any))
	}
	p.m[id] = fn
}

func (p *pendingRequests) remove(id string) {
	p.mu.Lock()
	delete(p.m, id)
	p.mu.Unlock()
}

func (p *pendingRequests) has(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.m[id]
	return ok
}

// deliver hands resp to the request id's callback, outside the lock.
func (p *pendingRequests) deliver(id string, resp any) {
	p.mu.Lock()
	fn := p.m[id]
	p.mu.Unlock()
	if fn != nil {
		fn(resp)
	}
}

// clear drops every pending request (on Close; their waits end with their
// contexts or the broker's closing).
func (p *pendingRequests) clear() {
	p.mu.Lock()
	p.m = nil
	p.mu.Unlock()
}

// withTimeout gives ctx the broker's request timeout when it has no
// deadline of its own.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// collect waits for n responses on ch, or for ctx or closed to end; it
// returns those that came, and ctx's error (or ErrBrokerClosed) if they
// were not all there.
func collect[T any](ctx context.Context, closed <-chan struct{}, ch <-chan T, n int) ([]T, error) {
	out := make([]T, 0, n)
	for len(out) < n {
		select {
		case v := <-ch:
			out = append(out, v)
		case <-ctx.Done():
			return out, ctx.Err()
		case <-closed:
			return out, errClosed
		}
	}
	return out, nil
}
