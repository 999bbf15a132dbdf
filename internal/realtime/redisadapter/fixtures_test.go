package redisadapter

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The golden fixtures are what the real Node packages wrote to Redis,
// captured by test/interop/capture-fixtures.mjs (see its header to
// regenerate them).

type fixtureFile struct {
	Versions         map[string]string `json:"versions"`
	Key              string            `json:"key"`
	StreamName       string            `json:"streamName"`
	ChannelPrefix    string            `json:"channelPrefix"`
	SessionKeyPrefix string            `json:"sessionKeyPrefix"`
	Servers          struct{ A, B string }
	Cases            []fixtureCase `json:"cases"`
}

type fixtureCase struct {
	Name     string          `json:"name"`
	Commands [][]fixtureArg  `json:"commands"`
	Decoded  []any           `json:"decoded"`
	SocketIO json.RawMessage `json:"socketio"`
	Result   any             `json:"result"`
	Entry    *struct {
		ID          string         `json:"id"`
		Fields      map[string]any `json:"fields"`
		DecodedData any            `json:"decodedData"`
	} `json:"entry"`
	Session any `json:"session"`
}

// fixtureArg is a command argument: a string, or {"b64": ...} for bytes
// that are not printable text.
type fixtureArg []byte

func (a *fixtureArg) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*a = []byte(s)
		return nil
	}
	var b struct{ B64 string }
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(b.B64)
	*a = raw
	return err
}

// clientPacket is what socket.io-parser's Encoder made of a packet for
// clients: its text and binary attachments.
type clientPacket struct {
	Text        string   `json:"text"`
	Attachments []string `json:"attachments"`
}

func (c clientPacket) attachments(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for _, a := range c.Attachments {
		b, err := base64.StdEncoding.DecodeString(a)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func loadFixture(t testing.TB, name string) fixtureFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var f fixtureFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(f.Cases) == 0 {
		t.Fatalf("%s has no cases", name)
	}
	return f
}

func (f fixtureFile) find(t *testing.T, name string) fixtureCase {
	t.Helper()
	for _, c := range f.Cases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no fixture case %q", name)
	return fixtureCase{}
}

// socketio returns the case's client encodings, one per command (nil where
// a command is not a broadcast).
func (c fixtureCase) socketio(t *testing.T) []*clientPacket {
	t.Helper()
	if len(c.SocketIO) == 0 {
		return nil
	}
	var list []*clientPacket
	if c.SocketIO[0] == '[' {
		if err := json.Unmarshal(c.SocketIO, &list); err != nil {
			t.Fatal(err)
		}
		return list
	}
	var one clientPacket
	if err := json.Unmarshal(c.SocketIO, &one); err != nil {
		t.Fatal(err)
	}
	return []*clientPacket{&one}
}

func str(a fixtureArg) string { return string(a) }
