package realtime

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/eventide/realtime/internal/socketio"
)

func TestRoomFromArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []any
		room string
		err  string
	}{
		{"room name", []any{"provider-42"}, "provider-42", ""},
		{"room object", []any{map[string]any{"room": "provider-42"}}, "provider-42", ""},
		{"provider id string", []any{map[string]any{"providerId": "42"}}, "provider-42", ""},
		{"provider id number", []any{map[string]any{"providerId": float64(42)}}, "provider-42", ""},
		{"provider id with dash", []any{"provider-a-1"}, "provider-a-1", ""},
		{"no argument", nil, "", "invalid room"},
		{"empty object", []any{map[string]any{}}, "", "invalid room"},
		{"not a provider room", []any{"lobby"}, "lobby", "rooms are named provider-<id>"},
		{"bad id", []any{"provider-4 2"}, "provider-4 2", "invalid room"},
		{"another socket's id room", []any{"provider-"}, "provider-", "invalid room"},
		{"number", []any{float64(42)}, "", "invalid room"},
		{"room of wrong type", []any{map[string]any{"room": 42}}, "", "invalid room"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			room, provider, err := roomFromArgs(tc.args)
			if tc.err == "" {
				if err != nil || room != tc.room || RoomForProvider(provider) != room {
					t.Fatalf("roomFromArgs = %q, %q, %v; want %q", room, provider, err, tc.room)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("roomFromArgs = %q, %v; want an error with %q", room, err, tc.err)
			}
		})
	}
}

func TestHandshakeTokenSources(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    socketio.Handshake
		want string
	}{
		{"auth.token (client 3/4)", socketio.Handshake{Auth: map[string]any{"token": "a"}}, "a"},
		{"auth.token with Bearer prefix", socketio.Handshake{Auth: map[string]any{"token": "Bearer a"}}, "a"},
		{"query (client 2.x)", socketio.Handshake{Auth: map[string]any{}, Query: url.Values{"token": {"q"}}}, "q"},
		{"header", socketio.Handshake{Header: http.Header{"Authorization": {"Bearer h"}}}, "h"},
		{"auth wins over header", socketio.Handshake{Auth: map[string]any{"token": "a"}, Header: http.Header{"Authorization": {"Bearer h"}}}, "a"},
		{"none", socketio.Handshake{}, ""},
		{"non-string auth token", socketio.Handshake{Auth: map[string]any{"token": 5}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := handshakeToken(tc.h); got != tc.want {
				t.Fatalf("handshakeToken = %q, want %q", got, tc.want)
			}
		})
	}
}
