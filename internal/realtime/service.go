package realtime

import (
	"context"
	"log/slog"
	"time"

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

// ChangeLog is the event log as the gateway reads it to fill a gap in a
// provider's changes (availability.Store's Events: the committed changes
// after the seq after, in seq order, at most limit).
type ChangeLog interface {
	Events(ctx context.Context, providerID string, after int64, limit int) ([]availability.Change, int64, error)
}

// gapFillTimeout bounds a read of the event log that fills a gap: it runs
// on the broker's reader, which waits meanwhile.
const gapFillTimeout = 5 * time.Second

// maxGapFill bounds the changes one gap is filled with (one read of the
// log); a longer gap keeps the rest missing, as a client away that long
// catches up by REST.
const maxGapFill = 1000

// gapFiller reads from log the changes of a provider this node missed
// (Redis pub/sub loses what is published while a node subscribes again,
// ADR 0027), those after after and before before (0: up to the newest),
// and makes them the broadcasts Publish would have made.
func gapFiller(nsp *socketio.Namespace, log ChangeLog, logger *slog.Logger) socketio.GapFiller {
	return func(providerID string, after, before int64) []*socketio.Broadcast {
		ctx, cancel := context.WithTimeout(context.Background(), gapFillTimeout)
		defer cancel()
		limit := maxGapFill
		if before != 0 {
			limit = int(min(before-after-1, maxGapFill))
		}
		changes, _, err := log.Events(ctx, providerID, after, limit)
		if err != nil {
			logger.Warn("missed changes not filled from the event log", "provider_id", providerID,
				"after", after, "before", before, "err", err)
			return nil
		}
		out := make([]*socketio.Broadcast, 0, len(changes))
		for _, c := range changes {
			if before != 0 && c.Seq >= before {
				break
			}
			p, err := socketio.EncodeEvent(nsp.Name(), socketio.NoID, EventAvailabilityUpdated, c)
			if err != nil {
				logger.Error("encode a missed change", "provider_id", providerID, "seq", c.Seq, "err", err)
				return out
			}
			out = append(out, &socketio.Broadcast{
				Namespace: nsp.Name(), Packet: p, Rooms: []string{RoomForProvider(providerID)},
				Stream: providerID, Seq: c.Seq,
			})
		}
		if len(out) > 0 {
			logger.Debug("filled missed changes from the event log", "provider_id", providerID,
				"after", after, "before", before, "filled", len(out))
		}
		return out
	}
}
