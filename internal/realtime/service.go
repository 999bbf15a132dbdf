package realtime

import (
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/socketio"
)

// Service is the internal websockets service: every other package pushes
// events to Socket.IO clients through it. Each emit is encoded once and the
// same bytes go to every recipient.
type Service struct {
	nsp *socketio.Namespace
}

var _ availability.Publisher = (*Service)(nil)

// EmitToRoom sends event with data to every socket in room.
func (s *Service) EmitToRoom(room, event string, data any) error {
	return s.nsp.To(room).Emit(event, data)
}

// EmitToAll sends event with data to every connected socket.
func (s *Service) EmitToAll(event string, data any) error {
	return s.nsp.Emit(event, data)
}
