package redisadapter

import (
	"sync"

	"github.com/eventide/realtime/internal/socketio"
)

var errClosed = socketio.ErrBrokerClosed

// localNsp is a subscribed namespace's Local behind a gate: calls into it
// hold the read side, and Unsubscribe takes the write side, so that once
// Unsubscribe returned no call into the Local is made.
type localNsp[C any] struct {
	gate    sync.RWMutex
	removed bool
	local   socketio.Local
	ch      C // the namespace's channels
}

// with runs fn with the Local unless the namespace was unsubscribed.
func (n *localNsp[C]) with(fn func(l socketio.Local)) {
	n.gate.RLock()
	defer n.gate.RUnlock()
	if !n.removed {
		fn(n.local)
	}
}

func (n *localNsp[C]) remove() {
	n.gate.Lock()
	n.removed = true
	n.gate.Unlock()
}

// locals are a broker's subscribed namespaces by name.
type locals[C any] struct {
	mu sync.RWMutex
	m  map[string]*localNsp[C]
}

func (ls *locals[C]) get(nsp string) *localNsp[C] {
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	return ls.m[nsp]
}

// add registers local; false if its namespace already has one.
func (ls *locals[C]) add(local socketio.Local, ch C) (*localNsp[C], bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.m == nil {
		ls.m = make(map[string]*localNsp[C])
	}
	if _, dup := ls.m[local.Name()]; dup {
		return nil, false
	}
	n := &localNsp[C]{local: local, ch: ch}
	ls.m[local.Name()] = n
	return n, true
}

func (ls *locals[C]) del(nsp string) *localNsp[C] {
	ls.mu.Lock()
	n := ls.m[nsp]
	delete(ls.m, nsp)
	ls.mu.Unlock()
	if n != nil {
		n.remove()
	}
	return n
}

func (ls *locals[C]) all() []*localNsp[C] {
	ls.mu.RLock()
	defer ls.mu.RUnlock()
	out := make([]*localNsp[C], 0, len(ls.m))
	for _, n := range ls.m {
		out = append(out, n)
	}
	return out
}
