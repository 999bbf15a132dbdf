package engineio

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func p(typ byte, data string) packet  { return packet{typ: typ, data: []byte(data)} }
func pb(typ byte, data string) packet { return packet{typ: typ, data: []byte(data), binary: true} }
func pkts(ps ...packet) []packet      { return ps }
func msgs(ms ...*Message) []*Message  { return ms }
func text(s string) *Message          { return TextMessage([]byte(s)) }
func bin(s string) *Message           { return BinaryMessage([]byte(s)) }
func norm(ps []packet) []packet {
	for i := range ps {
		if ps[i].data == nil {
			ps[i].data = []byte{}
		}
	}
	return ps
}

func TestDecodePayloadV4(t *testing.T) {
	tests := []struct {
		in   string
		want []packet
		err  bool
	}{
		{"4hello", pkts(p('4', "hello")), false},
		{"4a\x1e4b\x1e2\x1e3\x1e6", pkts(p('4', "a"), p('4', "b"), p('2', ""), p('3', ""), p('6', "")), false},
		{"bAQID", pkts(pb('4', "\x01\x02\x03")), false},
		{"4\x1ebAA==", pkts(p('4', ""), pb('4', "\x00")), false},
		{"1", pkts(p('1', "")), false},
		{"4€😀", pkts(p('4', "€😀")), false},
		{"", nil, true},
		{"4a\x1e", nil, true},
		{"\x1e4a", nil, true},
		{"7", nil, true},
		{"x", nil, true},
		{"b!!", nil, true},
		{"bAQI", nil, true},
	}
	for _, tt := range tests {
		got, err := decodePayloadV4([]byte(tt.in))
		if (err != nil) != tt.err {
			t.Errorf("%q: err %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if !tt.err && !reflect.DeepEqual(norm(got), norm(tt.want)) {
			t.Errorf("%q: got %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestDecodePayloadV3String(t *testing.T) {
	tests := []struct {
		in   string
		want []packet
		err  bool
	}{
		{"6:4hello", pkts(p('4', "hello")), false},
		{"6:4test16:4test2", pkts(p('4', "test1"), p('4', "test2")), false},
		{"1:2", pkts(p('2', "")), false},
		{"6:2probe", pkts(p('2', "probe")), false},
		{"2:4€", pkts(p('4', "€")), false},
		{"3:4😀", pkts(p('4', "😀")), false},
		{"6:b4AQID", pkts(pb('4', "\x01\x02\x03")), false},
		{"0:1:6", pkts(p('6', "")), false},
		{"", nil, true},
		{"0:", nil, true},
		{"2:4😀", nil, true}, // splits a surrogate pair
		{"5:4a", nil, true},
		{":4a", nil, true},
		{"a:4a", nil, true},
		{"1:4a", nil, true},
		{"1:7", nil, true},
		{"99999999999999999999999999999999999:4a", nil, true},
		{strings.Repeat("9", 100000), nil, true},
		{"2:b9", nil, true},
		{"3:b4!", nil, true},
		{"abc", nil, true},
	}
	for _, tt := range tests {
		got, err := decodePayloadV3String([]byte(tt.in))
		if (err != nil) != tt.err {
			t.Errorf("%.40q: err %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if !tt.err && !reflect.DeepEqual(norm(got), norm(tt.want)) {
			t.Errorf("%q: got %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestDecodePayloadV3Binary(t *testing.T) {
	b := func(bs ...byte) string { return string(bs) }
	tests := []struct {
		in   string
		want []packet
		err  bool
	}{
		{b(0, 6, 0xff) + "4hello", pkts(p('4', "hello")), false},
		{b(1, 4, 0xff, 4, 1, 2, 3), pkts(pb('4', "\x01\x02\x03")), false},
		{b(0, 1, 0xff) + "2" + b(0, 1, 2, 0xff) + "4" + strings.Repeat("x", 11), pkts(p('2', ""), p('4', strings.Repeat("x", 11))), false},
		{"", nil, true},
		{b(2, 1, 0xff, '4'), nil, true},
		{b(0, 0xff), nil, true},
		{b(0, 1), nil, true},
		{b(0, 10, 0xff, '4'), nil, true},
		{b(0, 5, 0xff, '4'), nil, true},
		{b(0, 0, 0xff), nil, true},
		{b(0, 1, 0xff, '9'), nil, true},
		{b(1, 1, 0xff, 9), nil, true},
		{b(0) + strings.Repeat("\x09", 1000) + b(0xff), nil, true},
	}
	for _, tt := range tests {
		got, err := decodePayloadV3Binary([]byte(tt.in))
		if (err != nil) != tt.err {
			t.Errorf("%.40q: err %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if !tt.err && !reflect.DeepEqual(norm(got), norm(tt.want)) {
			t.Errorf("%q: got %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestEncodePayloads(t *testing.T) {
	ms := msgs(text("hello"), bin("\x01\x02\x03"), pingPacket, text("€😀"))
	if got := string(appendPayloadV4(nil, ms)); got != "4hello\x1ebAQID\x1e2\x1e4€😀" {
		t.Errorf("v4 = %q", got)
	}
	if got := string(appendPayloadV3String(nil, ms)); got != "6:4hello6:b4AQID1:24:4€😀" {
		t.Errorf("v3 string = %q", got)
	}
	want := []byte{0, 6, 0xff, '4', 'h', 'e', 'l', 'l', 'o', 1, 4, 0xff, 4, 1, 2, 3, 0, 1, 0xff, '2', 0, 8, 0xff, '4'}
	want = append(want, "€😀"...)
	if got := appendPayloadV3Binary(nil, ms); !bytes.Equal(got, want) {
		t.Errorf("v3 binary = %v\nwant %v", got, want)
	}
	long := text(strings.Repeat("x", 123))
	if got := appendPayloadV3Binary(nil, msgs(long))[:5]; !bytes.Equal(got, []byte{0, 1, 2, 4, 0xff}) {
		t.Errorf("v3 binary length digits = %v", got)
	}
	// Round trips.
	for _, m := range [][]*Message{ms, msgs(long), msgs(bin(""))} {
		if _, err := decodePayloadV4(appendPayloadV4(nil, m)); err != nil {
			t.Errorf("v4 round trip: %v", err)
		}
		if _, err := decodePayloadV3String(appendPayloadV3String(nil, m)); err != nil {
			t.Errorf("v3 string round trip: %v", err)
		}
		if _, err := decodePayloadV3Binary(appendPayloadV3Binary(nil, m)); err != nil {
			t.Errorf("v3 binary round trip: %v", err)
		}
	}
}

func TestMessageFrames(t *testing.T) {
	m := text("hi")
	if f := m.wsFrame(4); string(f) != "\x81\x034hi" {
		t.Errorf("text frame %q", f)
	}
	if &m.wsFrame(3)[0] != &m.wsFrame(4)[0] {
		t.Error("text frame not shared between v3 and v4")
	}
	b := bin("\x01\x02")
	if f := b.wsFrame(4); string(f) != "\x82\x02\x01\x02" {
		t.Errorf("v4 binary frame %q", f)
	}
	if f := b.wsFrame(3); string(f) != "\x82\x03\x04\x01\x02" {
		t.Errorf("v3 binary frame %q", f)
	}
	if &b.wsFrame(4)[0] != &b.wsFrame(4)[0] {
		t.Error("frame not cached")
	}
	big := text(strings.Repeat("x", 70000))
	if f := big.wsFrame(4); len(f) != 70001+10 || f[1] != 127 {
		t.Errorf("big frame header %x len %d", f[:10], len(f))
	}
}

func TestDecodeWSPacket(t *testing.T) {
	if _, err := decodeWSPacket(2, nil, 3); err == nil {
		t.Error("empty v3 binary accepted")
	}
	if _, err := decodeWSPacket(2, []byte{9}, 3); err == nil {
		t.Error("v3 binary type 9 accepted")
	}
	if got, _ := decodeWSPacket(2, []byte{4, 1}, 3); got.typ != '4' || !got.binary || string(got.data) != "\x01" {
		t.Errorf("v3 binary = %+v", got)
	}
	if got, _ := decodeWSPacket(2, []byte{4, 1}, 4); got.typ != '4' || string(got.data) != "\x04\x01" {
		t.Errorf("v4 binary = %+v", got)
	}
	if _, err := decodeWSPacket(1, nil, 4); err == nil {
		t.Error("empty text accepted")
	}
}
