package realtime

import (
	"strings"

	"github.com/eventide/realtime/internal/auth"
)

// The names clients see, written once: the gateway reads them from
// clients and Service publishes with them. The domain (availability)
// speaks of providers and changes; these are the Socket.IO words for them.

// Events the gateway handles and emits.
const (
	EventJoinRoom            = "joinRoom"
	EventLeaveRoom           = "leaveRoom"
	EventJoinedRoom          = "joinedRoom"
	EventLeftRoom            = "leftRoom"
	EventException           = "exception"
	EventAvailabilityUpdated = "availabilityUpdated"
)

// EventNames lists the contract's events (both directions): the names
// metrics count by name; any other is counted as "other".
func EventNames() []string {
	return []string{EventJoinRoom, EventLeaveRoom, EventJoinedRoom, EventLeftRoom, EventException, EventAvailabilityUpdated}
}

// Why the gateway refuses a CONNECT: the reasons its connect_error names
// to socketio.Observer (a metric label), never the token's details.
const (
	RefusedNoToken      = "no_token"
	RefusedInvalidToken = "invalid_token"
)

// refusal is a middleware error naming its reason (socketio.RefusalReason).
type refusal struct{ reason, msg string }

func (e refusal) Error() string         { return e.msg }
func (e refusal) RefusalReason() string { return e.reason }

// RefusalReasons lists the reasons the gateway refuses a CONNECT with.
func RefusalReasons() []string { return []string{RefusedNoToken, RefusedInvalidToken} }

// roomPrefix starts the name of a provider's room.
const roomPrefix = "provider-"

// RoomForProvider returns the Socket.IO room of a provider: "provider-<id>".
func RoomForProvider(providerID string) string { return roomPrefix + providerID }

// ProviderOfRoom returns the provider id of a "provider-<id>" room; ok is
// false for any other name or a malformed id (auth.ValidProviderID).
func ProviderOfRoom(room string) (providerID string, ok bool) {
	id, found := strings.CutPrefix(room, roomPrefix)
	if !found || !auth.ValidProviderID(id) {
		return "", false
	}
	return id, true
}
