package socketio

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeValid(t *testing.T) {
	tests := []struct {
		in   string
		want DecodedPacket
	}{
		{"0", DecodedPacket{Type: PacketConnect, Namespace: "/", ID: NoID}},
		{`0{"token":"abc"}`, DecodedPacket{Type: PacketConnect, Namespace: "/", ID: NoID, Data: map[string]any{"token": "abc"}}},
		{`0/admin,{"token":"abc"}`, DecodedPacket{Type: PacketConnect, Namespace: "/admin", ID: NoID, Data: map[string]any{"token": "abc"}}},
		{`0/admin,`, DecodedPacket{Type: PacketConnect, Namespace: "/admin", ID: NoID}},
		{`0/admin`, DecodedPacket{Type: PacketConnect, Namespace: "/admin", ID: NoID}},
		{`0/admin?token=x,`, DecodedPacket{Type: PacketConnect, Namespace: "/admin?token=x", ID: NoID}},
		{"1", DecodedPacket{Type: PacketDisconnect, Namespace: "/", ID: NoID}},
		{"1/admin,", DecodedPacket{Type: PacketDisconnect, Namespace: "/admin", ID: NoID}},
		{`2["hello",1]`, DecodedPacket{Type: PacketEvent, Namespace: "/", ID: NoID, Data: []any{"hello", 1.0}}},
		{`2/admin,12["hello"]`, DecodedPacket{Type: PacketEvent, Namespace: "/admin", ID: 12, Data: []any{"hello"}}},
		{`212["hello"]`, DecodedPacket{Type: PacketEvent, Namespace: "/", ID: 12, Data: []any{"hello"}}},
		{`2` + "9007199254740991" + `["x"]`, DecodedPacket{Type: PacketEvent, Namespace: "/", ID: 9007199254740991, Data: []any{"x"}}},
		{`3/admin,13["bar"]`, DecodedPacket{Type: PacketAck, Namespace: "/admin", ID: 13, Data: []any{"bar"}}},
		{`30[]`, DecodedPacket{Type: PacketAck, Namespace: "/", ID: 0, Data: []any{}}},
		{`4{"message":"Not authorized"}`, DecodedPacket{Type: PacketConnectError, Namespace: "/", ID: NoID, Data: map[string]any{"message": "Not authorized"}}},
		{`4"Not authorized"`, DecodedPacket{Type: PacketConnectError, Namespace: "/", ID: NoID, Data: "Not authorized"}},
		{`50-["hello"]`, DecodedPacket{Type: PacketBinaryEvent, Namespace: "/", ID: NoID, Data: []any{"hello"}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d Decoder
			p, err := d.Add([]byte(tt.in), false)
			if err != nil {
				t.Fatalf("Add(%q): %v", tt.in, err)
			}
			if p == nil {
				t.Fatalf("Add(%q): no packet", tt.in)
			}
			if !reflect.DeepEqual(*p, tt.want) {
				t.Fatalf("Add(%q) = %+v, want %+v", tt.in, *p, tt.want)
			}
		})
	}
}

// malformed are inputs the decoder must refuse (also the fuzz seeds).
var malformed = []string{
	"",
	"7",
	"a",
	"-1",
	"4abc",
	"2{}",
	`2"hello"`,
	`42abc["x"]`,
	`2abc["x"]`,
	`2[]`,
	`2[1,"x"]`,
	`2[null]`,
	`2[{"a":1}]`,
	`2[["x"]]`,
	`2["connect"]`,
	`2["connect_error"]`,
	`2["disconnect"]`,
	`2["disconnecting"]`,
	`2["newListener"]`,
	`2["removeListener"]`,
	`2["error"]`,
	`0admin,{}`,
	`2admin,["x"]`,
	`0"str"`,
	`0[1]`,
	`0/admin,"str"`,
	`1{}`,
	`1/admin,["x"]`,
	`3{}`,
	`3"x"`,
	`4[1]`,
	`4`,
	"2" + strings.Repeat("9", 17) + `["x"]`,
	"2" + strings.Repeat("9", 100000) + `["x"]`,
	"2" + "9007199254740992" + `["x"]`,
	"5" + strings.Repeat("9", 100000) + `-["x"]`,
	"511-" + `["x"]`,
	"5999-" + `["x"]`,
	"5-[\"x\"]",
	"5a-[\"x\"]",
	"51[\"x\"]",
	"51",
	`50-["x",{"_placeholder":true,"num":0}]`,
	`6abc`,
	`2["x",1e400]`,
	`2["x"] trailing`,
	`2["x"`,
}

func TestDecodeMalformed(t *testing.T) {
	for _, in := range malformed {
		name := in
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			var d Decoder
			p, err := d.Add([]byte(in), false)
			if err == nil {
				t.Fatalf("Add(%.60q) = %+v, want error", in, p)
			}
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error %v does not wrap ErrParse", err)
			}
		})
	}
}

func TestDecodeClientAllowsReserved(t *testing.T) {
	d := Decoder{Client: true}
	if _, err := d.Add([]byte(`2["connect"]`), false); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeBinary(t *testing.T) {
	var d Decoder
	p, err := d.Add([]byte(`52-/admin,7["up",{"a":{"_placeholder":true,"num":1}},{"_placeholder":true,"num":0}]`), false)
	if err != nil || p != nil {
		t.Fatalf("text part: %v %v", p, err)
	}
	if p, err = d.Add([]byte{1, 2}, true); err != nil || p != nil {
		t.Fatalf("first attachment: %v %v", p, err)
	}
	p, err = d.Add([]byte{3}, true)
	if err != nil || p == nil {
		t.Fatalf("second attachment: %v %v", p, err)
	}
	want := []any{"up", map[string]any{"a": []byte{3}}, []byte{1, 2}}
	if p.Type != PacketBinaryEvent || p.Namespace != "/admin" || p.ID != 7 || !reflect.DeepEqual(p.Data, want) {
		t.Fatalf("got %+v", p)
	}
	// The decoder is ready for the next packet.
	if p, err = d.Add([]byte(`2["x"]`), false); err != nil || p == nil {
		t.Fatalf("next: %v %v", p, err)
	}
}

func TestDecodeBinaryMalformed(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		att   int
		extra bool // send one more binary message than declared
	}{
		{"num out of range", `51-["x",{"_placeholder":true,"num":1}]`, 1, false},
		{"num negative", `51-["x",{"_placeholder":true,"num":-1}]`, 1, false},
		{"num not a number", `51-["x",{"_placeholder":true,"num":"0"}]`, 1, false},
		{"num missing", `51-["x",{"_placeholder":true}]`, 1, false},
		{"num fractional", `52-["x",{"_placeholder":true,"num":0.5}]`, 2, false},
		{"num duplicated", `52-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`, 2, false},
		{"huge num", `51-["x",{"_placeholder":true,"num":1e300}]`, 1, false},
		{"more attachments than declared", `51-["x",{"_placeholder":true,"num":0}]`, 1, true},
		{"ack bad num", `61-3[{"_placeholder":true,"num":5}]`, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			_, err := d.Add([]byte(tt.text), false)
			for i := 0; err == nil && i < tt.att; i++ {
				_, err = d.Add([]byte{byte(i)}, true)
			}
			if tt.extra && err == nil {
				_, err = d.Add([]byte{9}, true)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error %v does not wrap ErrParse", err)
			}
		})
	}
}

func TestDecodeTextWhileReconstructing(t *testing.T) {
	var d Decoder
	if _, err := d.Add([]byte(`51-["x",{"_placeholder":true,"num":0}]`), false); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Add([]byte(`2["y"]`), false); err == nil {
		t.Fatal("text during reconstruction accepted")
	}
	// After the error the decoder starts afresh.
	if p, err := d.Add([]byte(`2["y"]`), false); err != nil || p == nil {
		t.Fatalf("after reset: %v %v", p, err)
	}
}

func TestDecodeMaxAttachments(t *testing.T) {
	d := Decoder{MaxAttachments: 2}
	if _, err := d.Add([]byte(`53-["x"]`), false); err == nil {
		t.Fatal("3 attachments accepted with MaxAttachments 2")
	}
	if _, err := d.Add([]byte(`52-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`), false); err != nil {
		t.Fatal(err)
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		got  func() (*Packet, error)
		text string
		att  [][]byte
	}{
		{"connect v4", func() (*Packet, error) { return Encode(PacketConnect, "/", NoID, nil) }, "0", nil},
		{"connect v4 nsp", func() (*Packet, error) { return Encode(PacketConnect, "/admin", NoID, nil) }, "0/admin,", nil},
		{"connect v5", func() (*Packet, error) { return Encode(PacketConnect, "/", NoID, map[string]any{"sid": "abc"}) }, `0{"sid":"abc"}`, nil},
		{"connect v5 nsp", func() (*Packet, error) { return Encode(PacketConnect, "/admin", NoID, map[string]any{"sid": "abc"}) }, `0/admin,{"sid":"abc"}`, nil},
		{"disconnect", func() (*Packet, error) { return Encode(PacketDisconnect, "/admin", NoID, nil) }, "1/admin,", nil},
		{"connect error", func() (*Packet, error) {
			return Encode(PacketConnectError, "/", NoID, map[string]any{"message": "Invalid namespace"})
		}, `4{"message":"Invalid namespace"}`, nil},
		{"event", func() (*Packet, error) { return EncodeEvent("/", NoID, "hello", 1, "a<b>", nil) }, `2["hello",1,"a<b>",null]`, nil},
		{"event no args", func() (*Packet, error) { return EncodeEvent("/", NoID, "hello") }, `2["hello"]`, nil},
		{"event ack nsp", func() (*Packet, error) { return EncodeEvent("/admin", 12, "hello") }, `2/admin,12["hello"]`, nil},
		{"ack", func() (*Packet, error) { return EncodeAck("/", 3, "ok") }, `33["ok"]`, nil},
		{"ack empty", func() (*Packet, error) { return EncodeAck("/", 0) }, `30[]`, nil},
		{"binary event", func() (*Packet, error) { return EncodeEvent("/", NoID, "file", []byte{1, 2}) },
			`51-["file",{"_placeholder":true,"num":0}]`, [][]byte{{1, 2}}},
		{"binary nested", func() (*Packet, error) {
			return EncodeEvent("/admin", 4, "f", []any{"x", []byte{1}}, map[string]any{"b": []byte{2}})
		}, `52-/admin,4["f",["x",{"_placeholder":true,"num":0}],{"b":{"_placeholder":true,"num":1}}]`, [][]byte{{1}, {2}}},
		{"binary ack", func() (*Packet, error) { return EncodeAck("/", 9, []byte("hi")) },
			`61-9[{"_placeholder":true,"num":0}]`, [][]byte{[]byte("hi")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.got()
			if err != nil {
				t.Fatal(err)
			}
			if string(p.Text) != tt.text {
				t.Fatalf("text %s, want %s", p.Text, tt.text)
			}
			if !reflect.DeepEqual(p.Attachments, tt.att) {
				t.Fatalf("attachments %v, want %v", p.Attachments, tt.att)
			}
		})
	}
}

func TestEncodeDoesNotModifyArgs(t *testing.T) {
	arg := map[string]any{"b": []byte{2}}
	if _, err := EncodeEvent("/", NoID, "f", arg); err != nil {
		t.Fatal(err)
	}
	if _, ok := arg["b"].([]byte); !ok {
		t.Fatal("caller's map modified")
	}
}

func TestEncodeError(t *testing.T) {
	if _, err := EncodeEvent("/", NoID, "x", func() {}); err == nil {
		t.Fatal("unencodable argument accepted")
	}
}

func TestRoundTrip(t *testing.T) {
	args := []any{"s", 1.5, true, nil, []any{"a", []byte{0, 255}}, map[string]any{"k": []byte{7}, "n": 2.0}}
	p, err := EncodeEvent("/admin", 42, "ev", args...)
	if err != nil {
		t.Fatal(err)
	}
	d := Decoder{Client: true}
	got, err := d.Add(p.Text, false)
	for _, a := range p.Attachments {
		if err != nil {
			break
		}
		got, err = d.Add(bytes.Clone(a), true)
	}
	if err != nil || got == nil {
		t.Fatalf("decode: %v %v", got, err)
	}
	want := append([]any{"ev"}, args...)
	if got.Type != PacketBinaryEvent || got.ID != 42 || got.Namespace != "/admin" || !reflect.DeepEqual(got.Data, want) {
		t.Fatalf("got %+v", got)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range malformed {
		if len(s) < 1000 {
			f.Add([]byte(s), false)
		}
	}
	for _, s := range []string{"0", `0/admin,{"a":1}`, `2["x",1]`, `212["x"]`, `3/a,1[]`, `51-["x",{"_placeholder":true,"num":0}]`, "1/x,"} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte{1, 2, 3}, true)
	f.Fuzz(func(t *testing.T, data []byte, binary bool) {
		var d Decoder
		p, err := d.Add(data, binary)
		if err != nil {
			if p != nil {
				t.Fatal("packet and error")
			}
			return
		}
		// Up to the declared attachments, each message is accepted or refused, never a panic.
		for i := 0; p == nil && err == nil && i < DefaultMaxAttachments; i++ {
			p, err = d.Add(data, true)
		}
		if p != nil && (p.Type == PacketEvent || p.Type == PacketBinaryEvent) {
			if _, ok := p.Data.([]any)[0].(string); !ok {
				t.Fatal("event without a string name")
			}
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("ev", "/admin", int64(3), `{"a":[1,"x"]}`, []byte{1})
	f.Add("x", "/", int64(-1), `"s"`, []byte(nil))
	f.Fuzz(func(t *testing.T, event, nsp string, id int64, jsonArg string, bin []byte) {
		if reservedEvents[event] || !strings.HasPrefix(nsp, "/") || strings.ContainsRune(nsp, ',') || id > maxAckID {
			return
		}
		if id < 0 {
			id = NoID
		}
		args := []any{jsonArg}
		if bin != nil {
			args = append(args, bin)
		}
		p, err := EncodeEvent(nsp, id, event, args...)
		if err != nil {
			return
		}
		var d Decoder
		got, err := d.Add(p.Text, false)
		for _, a := range p.Attachments {
			if err != nil {
				break
			}
			got, err = d.Add(a, true)
		}
		if err != nil {
			// encoding/json replaces invalid UTF-8 with U+FFFD, which decodes fine, so any error is a bug.
			t.Fatalf("decode %q: %v", p.Text, err)
		}
		if got.Namespace != nsp || got.ID != id {
			t.Fatalf("got nsp %q id %d, want %q %d (%q)", got.Namespace, got.ID, nsp, id, p.Text)
		}
	})
}
