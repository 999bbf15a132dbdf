package socketio

import (
	"context"
	"sync"
)

// MemoryCluster joins Servers of one process into one cluster: each gets a
// MemoryBroker of its own from NewBroker, and what one publishes, the
// others deliver, at once and in order, on the publisher's goroutine. It
// is the reference Broker (and Cluster) the Redis brokers are checked
// against, and what tests of several nodes run on.
type MemoryCluster struct {
	mu    sync.RWMutex
	nodes []*MemoryBroker
}

// NewMemoryCluster returns an empty cluster.
func NewMemoryCluster() *MemoryCluster { return &MemoryCluster{} }

// NewBroker adds a node to the cluster and returns its broker.
func (c *MemoryCluster) NewBroker() *MemoryBroker {
	b := &MemoryBroker{cluster: c, locals: make(map[string]Local)}
	c.mu.Lock()
	c.nodes = append(c.nodes, b)
	c.mu.Unlock()
	return b
}

// NewMemoryBroker returns the broker of a cluster of one node: the default
// of a Server, whose broadcasts reach its own sockets only.
func NewMemoryBroker() *MemoryBroker { return NewMemoryCluster().NewBroker() }

// MemoryBroker is one node's Broker in a MemoryCluster. It implements
// Cluster.
type MemoryBroker struct {
	cluster *MemoryCluster

	// mu is held (read) while a call runs in one of the node's Locals, so
	// that Unsubscribe and Close return only once none does.
	mu     sync.RWMutex
	locals map[string]Local // namespace -> this node's side of it
	closed bool
}

var (
	_ Broker  = (*MemoryBroker)(nil)
	_ Cluster = (*MemoryBroker)(nil)
)

// Subscribe implements Broker.
func (b *MemoryBroker) Subscribe(_ context.Context, local Local) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBrokerClosed
	}
	b.locals[local.Name()] = local
	return nil
}

// Unsubscribe implements Broker.
func (b *MemoryBroker) Unsubscribe(_ context.Context, nsp string) error {
	b.mu.Lock()
	delete(b.locals, nsp)
	b.mu.Unlock()
	return nil
}

// Close implements Broker: the node leaves the cluster.
func (b *MemoryBroker) Close() error {
	b.mu.Lock()
	b.closed = true
	clear(b.locals)
	b.mu.Unlock()
	c := b.cluster
	c.mu.Lock()
	for i, n := range c.nodes {
		if n == b {
			c.nodes = append(c.nodes[:i], c.nodes[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	return nil
}

// others returns the other nodes of the cluster, nil when there are none
// (a cluster of one allocates nothing).
func (b *MemoryBroker) others() ([]*MemoryBroker, error) {
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return nil, ErrBrokerClosed
	}
	c := b.cluster
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.nodes) <= 1 {
		return nil, nil
	}
	out := make([]*MemoryBroker, 0, len(c.nodes)-1)
	for _, n := range c.nodes {
		if n != b {
			out = append(out, n)
		}
	}
	return out, nil
}

// each calls fn with nsp's Local on every other node that has one.
func (b *MemoryBroker) each(nsp string, fn func(l Local)) error {
	nodes, err := b.others()
	if err != nil {
		return err
	}
	for _, n := range nodes {
		n.mu.RLock()
		if l := n.locals[nsp]; l != nil {
			fn(l)
		}
		n.mu.RUnlock()
	}
	return nil
}

// Publish implements Broker: every other node delivers b before it
// returns. It assigns no offset.
func (b *MemoryBroker) Publish(_ context.Context, bc *Broadcast) (string, error) {
	return "", b.each(bc.Namespace, func(l Local) { l.Deliver(bc) })
}

// ServerCount implements Cluster.
func (b *MemoryBroker) ServerCount(context.Context) (int, error) {
	nodes, err := b.others()
	return 1 + len(nodes), err
}

// AllRooms implements Cluster.
func (b *MemoryBroker) AllRooms(_ context.Context, nsp string) ([]string, error) {
	var out []string
	err := b.each(nsp, func(l Local) { out = append(out, l.Rooms()...) })
	return out, err
}

// FetchSockets implements Cluster.
func (b *MemoryBroker) FetchSockets(_ context.Context, nsp string, sel Selector) ([]SocketInfo, error) {
	var out []SocketInfo
	err := b.each(nsp, func(l Local) { out = append(out, l.FetchSockets(sel)...) })
	return out, err
}

// AddSockets implements Cluster.
func (b *MemoryBroker) AddSockets(_ context.Context, nsp string, sel Selector, rooms []string) error {
	return b.each(nsp, func(l Local) { l.AddSockets(sel, rooms) })
}

// DelSockets implements Cluster.
func (b *MemoryBroker) DelSockets(_ context.Context, nsp string, sel Selector, rooms []string) error {
	return b.each(nsp, func(l Local) { l.DelSockets(sel, rooms) })
}

// DisconnectSockets implements Cluster.
func (b *MemoryBroker) DisconnectSockets(_ context.Context, nsp string, sel Selector, close bool) error {
	return b.each(nsp, func(l Local) { l.DisconnectSockets(sel, close) })
}

// ServerSideEmit implements Cluster. Like Node's, it waits for a reply from
// every other node, those without the namespace too: a node that cannot
// answer makes it wait until ctx ends.
func (b *MemoryBroker) ServerSideEmit(ctx context.Context, nsp, event string, args []any, withAck bool) ([]any, error) {
	if !withAck {
		return nil, b.each(nsp, func(l Local) { l.ServerSideEmit(event, args, nil) })
	}
	nodes, err := b.others()
	if err != nil {
		return nil, err
	}
	replies := make(chan any, len(nodes))
	if err := b.each(nsp, func(l Local) { l.ServerSideEmit(event, args, func(r any) { replies <- r }) }); err != nil {
		return nil, err
	}
	var out []any
	for range nodes {
		select {
		case r := <-replies:
			out = append(out, r)
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
	return out, nil
}

// BroadcastWithAck implements Cluster: every other node's count is in
// when it returns.
func (b *MemoryBroker) BroadcastWithAck(_ context.Context, bc *Broadcast, onCount func(int), onAck func([]any)) error {
	return b.each(bc.Namespace, func(l Local) { l.BroadcastWithAck(bc, onCount, onAck) })
}
