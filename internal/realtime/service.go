package realtime

import (
	"context"

	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/relay"
	"github.com/eventide/realtime/internal/socketio"
)

// Service is the internal websockets service: every other package pushes
// events to Socket.IO clients through it, on every node of the cluster (the
// Socket.IO server's broker). Each emit is encoded once and the same bytes
// go to every recipient.
type Service struct {
	nsp *socketio.Namespace
}

var _ relay.Publisher = (*Service)(nil)

func newService(nsp *socketio.Namespace) *Service { return &Service{nsp: nsp} }

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
// its payload, on every node. It returns the broker's error (Redis down):
// then no node delivered it, and the relay publishes it again later.
//
// The relay delivers at least once. The change goes out as number Seq of
// its provider's stream (socketio's Sequenced), so the local delivery of
// every node drops a seq it already delivered, or an older one: no client
// sees a seq twice or out of order, whichever node published it and however
// often.
func (s *Service) Publish(ctx context.Context, c availability.Change) error {
	return s.nsp.To(RoomForProvider(c.ProviderID)).Sequenced(c.ProviderID, c.Seq).
		EmitContext(ctx, EventAvailabilityUpdated, c)
}
