package realtime

import (
	"strings"
	"testing"
)

func TestRoomNames(t *testing.T) {
	if RoomForProvider("42") != "provider-42" {
		t.Fatal(RoomForProvider("42"))
	}
	for room, want := range map[string]string{
		"provider-42": "42", "provider-a_B-9": "a_B-9", "provider-": "", "provider-4 2": "", "room-42": "",
		"provider-" + strings.Repeat("x", 65): "", "provider-" + strings.Repeat("x", 64): strings.Repeat("x", 64),
	} {
		got, ok := ProviderOfRoom(room)
		if got != want || ok != (want != "") {
			t.Errorf("ProviderOfRoom(%q) = %q, %v", room, got, ok)
		}
		if ok && RoomForProvider(got) != room {
			t.Errorf("RoomForProvider(%q) = %q, want %q", got, RoomForProvider(got), room)
		}
	}
}
