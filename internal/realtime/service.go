package realtime

import (
	"context"
	"sync"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/relay"
	"github.com/eventide/realtime/internal/socketio"
)

// Service is the internal websockets service: every other package pushes
// events to Socket.IO clients through it. Each emit is encoded once and the
// same bytes go to every recipient.
type Service struct {
	nsp  *socketio.Namespace
	seen seqs
}

var _ relay.Publisher = (*Service)(nil)

func newService(nsp *socketio.Namespace) *Service {
	return &Service{nsp: nsp, seen: seqs{limit: defaultSeqsLimit}}
}

// EmitToRoom sends event with data to every socket in room.
func (s *Service) EmitToRoom(room, event string, data any) error {
	return s.nsp.To(room).Emit(event, data)
}

// EmitToAll sends event with data to every connected socket.
func (s *Service) EmitToAll(event string, data any) error {
	return s.nsp.Emit(event, data)
}

// Publish sends a committed change to the room of its provider
// ("provider-<id>") as the event "availabilityUpdated", with the Change as
// its payload. The relay delivers at least once: a change whose seq is not
// above the last one sent for its provider is a duplicate (or late) and is
// dropped, so no client sees a seq twice or out of order.
func (s *Service) Publish(_ context.Context, c availability.Change) error {
	if !s.seen.isNew(c.ProviderID, c.Seq) {
		return nil
	}
	if err := s.nsp.To(auth.RoomForProvider(c.ProviderID)).Emit(EventAvailabilityUpdated, c); err != nil {
		return err // not recorded: the relay tries again
	}
	s.seen.sent(c.ProviderID, c.Seq)
	return nil
}

// defaultSeqsLimit bounds the providers whose last seq Publish remembers.
// Duplicates come from a relay round retried seconds later, so only
// recently active providers need remembering.
const defaultSeqsLimit = 1 << 16

// seqs is the last seq sent per provider, in two generations: when the
// current one holds limit/2 providers it becomes the previous one and the
// oldest is dropped, so memory stays bounded and recent providers are kept.
type seqs struct {
	mu        sync.Mutex
	limit     int
	cur, prev map[string]int64
}

func (m *seqs) last(provider string) (int64, bool) {
	if seq, ok := m.cur[provider]; ok {
		return seq, true
	}
	seq, ok := m.prev[provider]
	return seq, ok
}

func (m *seqs) isNew(provider string, seq int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	last, ok := m.last(provider)
	return !ok || seq > last
}

func (m *seqs) sent(provider string, seq int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if last, ok := m.last(provider); ok && last >= seq {
		return
	}
	if m.cur == nil {
		m.cur = make(map[string]int64)
	}
	if _, ok := m.cur[provider]; !ok && len(m.cur) >= max(m.limit/2, 1) {
		m.prev, m.cur = m.cur, make(map[string]int64)
	}
	m.cur[provider] = seq
}
