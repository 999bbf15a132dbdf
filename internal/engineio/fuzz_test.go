package engineio

import (
	"strings"
	"testing"
)

var payloadSeeds = []string{
	"", "4", "4hello", "4a\x1e4b", "bAQID", "b!!", "\x1e", "7", "0:", "6:4hello", "1:2",
	"99999999999999999999999999999:4a", strings.Repeat("9", 5000) + ":4", "3:4😀", "2:4😀",
	"\xff\xfe", "4\xff", "5:4\xff\xfe", "6:b4AQID", "b4", "\x00\x06\xff4hello", "\x01\x04\xff\x04\x01\x02\x03",
	"\x00" + strings.Repeat("\x09", 400) + "\xff", "\x00\xff", "\x02",
}

// checkPackets asserts what every decoder guarantees.
func checkPackets(t *testing.T, ps []packet, err error) {
	if err != nil {
		if ps != nil {
			t.Fatal("packets returned with an error")
		}
		return
	}
	if len(ps) == 0 {
		t.Fatal("no packets and no error")
	}
	for _, p := range ps {
		if !validType(p.typ) {
			t.Fatalf("invalid type %q", p.typ)
		}
	}
}

func FuzzDecodePayloadV4(f *testing.F) {
	for _, s := range payloadSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ps, err := decodePayloadV4(in)
		checkPackets(t, ps, err)
		if err == nil {
			var ms []*Message
			for _, p := range ps {
				m := &Message{typ: p.typ, data: p.data, binary: p.binary}
				ms = append(ms, m)
			}
			again, err := decodePayloadV4(appendPayloadV4(nil, ms))
			if err != nil || len(again) != len(ps) {
				t.Fatalf("round trip: %v (%d vs %d packets)", err, len(again), len(ps))
			}
		}
	})
}

func FuzzDecodePayloadV3String(f *testing.F) {
	for _, s := range payloadSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ps, err := decodePayloadV3String(in)
		checkPackets(t, ps, err)
		if err == nil {
			var ms []*Message
			for _, p := range ps {
				ms = append(ms, &Message{typ: p.typ, data: p.data, binary: p.binary})
			}
			if _, err := decodePayloadV3String(appendPayloadV3String(nil, ms)); err != nil {
				t.Fatalf("round trip: %v", err)
			}
		}
	})
}

func FuzzDecodePayloadV3Binary(f *testing.F) {
	for _, s := range payloadSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ps, err := decodePayloadV3Binary(in)
		checkPackets(t, ps, err)
		if err == nil {
			var ms []*Message
			for _, p := range ps {
				ms = append(ms, &Message{typ: p.typ, data: p.data, binary: p.binary})
			}
			again, err := decodePayloadV3Binary(appendPayloadV3Binary(nil, ms))
			if err != nil || len(again) != len(ps) {
				t.Fatalf("round trip: %v", err)
			}
		}
	})
}
