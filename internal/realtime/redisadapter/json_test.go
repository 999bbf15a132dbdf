package redisadapter

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
)

// toAny turns a jnode into what encoding/json decodes the same text into.
func toAny(n jnode) any {
	switch n.kind {
	case 'b':
		return n.b
	case 's':
		return n.s
	case 'd':
		f, _ := strconv.ParseFloat(n.s, 64)
		return f
	case 'a':
		out := make([]any, len(n.kids))
		for i := range n.kids {
			out[i] = toAny(n.kids[i])
		}
		return out
	case 'o':
		out := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			out[k] = toAny(n.kids[i])
		}
		return out
	}
	return nil
}

// FuzzParseJSON: parseJSON accepts what encoding/json accepts and reads the
// same value from it (when encoding/json can hold it: not 1e400).
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,-2.5e3,"x\"\\u00e9",true,false,null,{}]}`, `[]`, `01`, `1.`, `-`, `"\u2028"`, `{"a":1,"a":2}`, ` 1 `, `[1,]`, `"\x01"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseJSON(data)
		if json.Valid(data) != (err == nil) {
			t.Fatalf("%q: parseJSON err %v, json.Valid %v", data, err, json.Valid(data))
		}
		var want any
		if jerr := json.Unmarshal(data, &want); jerr == nil && !reflect.DeepEqual(toAny(n), want) {
			t.Fatalf("%q: parseJSON %#v, encoding/json %#v", data, toAny(n), want)
		}
	})
}

// FuzzDecodeMessages: whatever arrives on a channel, the decoders return an
// error or a message, never panic, and what they decode encodes again.
func FuzzDecodeMessages(f *testing.F) {
	for _, name := range []string{"classic.json", "emitter.json", "streams.json"} {
		fx := loadFixture(f, name)
		for _, c := range fx.Cases {
			for _, cmd := range c.Commands {
				if len(cmd) == 3 && string(cmd[0]) == "PUBLISH" {
					f.Add([]byte(cmd[2]))
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if _, b, err := decodeClassicBroadcast(payload); err == nil {
			if _, err := encodeClassicBroadcast("x", b); err != nil {
				t.Fatalf("decoded %q but cannot encode it: %v", b.Packet.Text, err)
			}
		}
		_, _ = decodeClassicRequest(payload, "/")
		_, _ = decodeClusterMessage(payload)
		_, _ = decodeSession(string(payload))
	})
}
