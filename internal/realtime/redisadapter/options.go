package redisadapter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/eventide/realtime/internal/socketio"
)

// wireOpts is a broadcast's or a request's opts as Node's adapters write
// them: {rooms, except, flags}, rooms and except always arrays. Eventide
// adds its stream position under "eventide" (ADR 0019); Node ignores it.
type wireOpts struct {
	Rooms    []string
	Except   []string
	Volatile bool
	Local    bool
	Timeout  int64 // flags.timeout of a broadcast with acks, in ms
	Stream   string
	Seq      int64
	// Offset is the broadcast's entry id in the classic broker's recovery
	// stream (ADR 0023), "" when none.
	Offset string
}

func optsOf(b *socketio.Broadcast) wireOpts {
	return wireOpts{Rooms: b.Rooms, Except: b.Except, Volatile: b.Flags.Volatile, Stream: b.Stream, Seq: b.Seq, Offset: b.Offset}
}

// hasEventide reports whether the opts carry eventide's own object.
func (o wireOpts) hasEventide() bool { return o.Stream != "" || o.Offset != "" }

func (o wireOpts) selector() socketio.Selector {
	return socketio.Selector{Rooms: o.Rooms, Except: o.Except}
}

// writeMsgpack writes {rooms, except, flags[, eventide]} (the classic
// adapter's and the streams adapter's order).
func (o wireOpts) writeMsgpack(enc *msgpack.Encoder, withFlags bool) error {
	n := 2
	if withFlags {
		n++
	}
	if o.hasEventide() {
		n++
	}
	if err := enc.EncodeMapLen(n); err != nil {
		return err
	}
	if err := encodeStrings(enc, "rooms", o.Rooms); err != nil {
		return err
	}
	if err := encodeStrings(enc, "except", o.Except); err != nil {
		return err
	}
	if withFlags {
		if err := enc.EncodeString("flags"); err != nil {
			return err
		}
		if err := o.writeFlags(enc); err != nil {
			return err
		}
	}
	if o.hasEventide() {
		return o.writeEventide(enc)
	}
	return nil
}

// writeEventide writes {stream, seq} and/or {offset}.
func (o wireOpts) writeEventide(enc *msgpack.Encoder) error {
	if err := enc.EncodeString("eventide"); err != nil {
		return err
	}
	n := 0
	if o.Stream != "" {
		n += 2
	}
	if o.Offset != "" {
		n++
	}
	if err := enc.EncodeMapLen(n); err != nil {
		return err
	}
	if o.Stream != "" {
		if err := enc.EncodeString("stream"); err != nil {
			return err
		}
		if err := enc.EncodeString(o.Stream); err != nil {
			return err
		}
		if err := encodeKV(enc, "seq", o.Seq); err != nil {
			return err
		}
	}
	if o.Offset != "" {
		if err := enc.EncodeString("offset"); err != nil {
			return err
		}
		return enc.EncodeString(o.Offset)
	}
	return nil
}

func (o wireOpts) writeFlags(enc *msgpack.Encoder) error {
	n := 0
	if o.Volatile {
		n++
	}
	if o.Timeout > 0 {
		n++
	}
	if err := enc.EncodeMapLen(n); err != nil {
		return err
	}
	if o.Volatile {
		if err := enc.EncodeString("volatile"); err != nil {
			return err
		}
		if err := enc.EncodeBool(true); err != nil {
			return err
		}
	}
	if o.Timeout > 0 {
		return encodeKV(enc, "timeout", o.Timeout)
	}
	return nil
}

// appendJSON writes {"rooms":[...],"except":[...][,"flags":{...}][,"eventide":{...}]}.
func (o wireOpts) appendJSON(b []byte, withFlags bool) []byte {
	b = append(b, `{"rooms":`...)
	b = appendStrings(b, o.Rooms)
	b = append(b, `,"except":`...)
	b = appendStrings(b, o.Except)
	if withFlags {
		b = append(b, `,"flags":{`...)
		sep := ""
		if o.Volatile {
			b = append(b, `"volatile":true`...)
			sep = ","
		}
		if o.Timeout > 0 {
			b = append(b, sep+`"timeout":`...)
			b = strconv.AppendInt(b, o.Timeout, 10)
		}
		b = append(b, '}')
	}
	if o.hasEventide() {
		b = append(b, `,"eventide":{`...)
		if o.Stream != "" {
			b = append(b, `"stream":`...)
			b = appendJSString(b, o.Stream)
			b = append(b, `,"seq":`...)
			b = strconv.AppendInt(b, o.Seq, 10)
		}
		if o.Offset != "" {
			if o.Stream != "" {
				b = append(b, ',')
			}
			b = append(b, `"offset":`...)
			b = appendJSString(b, o.Offset)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// MarshalJSON writes the opts of a JSON request: {rooms, except}.
func (o wireOpts) MarshalJSON() ([]byte, error) { return o.appendJSON(nil, false), nil }

// UnmarshalJSON reads opts written by any Node adapter or emitter.
func (o *wireOpts) UnmarshalJSON(data []byte) error {
	var raw struct {
		Rooms    roomList `json:"rooms"`
		Except   roomList `json:"except"`
		Flags    map[string]any
		Eventide *struct {
			Stream string `json:"stream"`
			Seq    int64  `json:"seq"`
			Offset string `json:"offset"`
		} `json:"eventide"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*o = wireOpts{Rooms: raw.Rooms, Except: raw.Except}
	o.setFlags(raw.Flags)
	if raw.Eventide != nil {
		o.Stream, o.Seq, o.Offset = raw.Eventide.Stream, raw.Eventide.Seq, raw.Eventide.Offset
	}
	return nil
}

func (o *wireOpts) setFlags(flags map[string]any) {
	o.Volatile, _ = flags["volatile"].(bool)
	o.Local, _ = flags["local"].(bool)
	if t, ok := flags["timeout"].(float64); ok {
		o.Timeout = int64(t)
	}
}

// readOpts reads opts from MessagePack.
func readOpts(dec *msgpack.Decoder) (wireOpts, error) {
	var o wireOpts
	err := readObject(dec, func(key string) error {
		var err error
		switch key {
		case "rooms":
			o.Rooms, err = readRooms(dec)
		case "except":
			o.Except, err = readRooms(dec)
		case "flags":
			var v any
			if v, err = decodeValue(dec, 0); err == nil {
				flags, _ := v.(map[string]any)
				o.setFlags(flags)
			}
		case "eventide":
			err = readObject(dec, func(key string) error {
				switch key {
				case "stream":
					s, err := dec.DecodeString()
					o.Stream = s
					return err
				case "seq":
					n, err := dec.DecodeInt64()
					o.Seq = n
					return err
				case "offset":
					s, err := dec.DecodeString()
					o.Offset = s
					return err
				}
				return dec.Skip()
			})
		default:
			err = dec.Skip()
		}
		return err
	})
	return o, err
}

// readObject calls field for each key of a MessagePack map; field reads
// (or skips) the value. A nil map is an empty one.
func readObject(dec *msgpack.Decoder, field func(key string) error) error {
	n, err := dec.DecodeMapLen()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		key, err := mapKey(dec)
		if err != nil {
			return err
		}
		if err := field(key); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// readRooms reads an array of room names; Node allows numbers as rooms.
func readRooms(dec *msgpack.Decoder) ([]string, error) {
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	return roomsOf(v), nil
}

func roomsOf(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, r := range arr {
		switch x := r.(type) {
		case string:
			out = append(out, x)
		case float64:
			out = append(out, string(appendJSFloat(nil, x)))
		}
	}
	return out
}

// roomList is a JSON array of room names (strings, or numbers, as Node
// allows).
type roomList []string

func (r *roomList) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*r = roomsOf(v)
	return nil
}

func encodeStrings(enc *msgpack.Encoder, key string, list []string) error {
	if err := enc.EncodeString(key); err != nil {
		return err
	}
	if err := enc.EncodeArrayLen(len(list)); err != nil {
		return err
	}
	for _, s := range list {
		if err := enc.EncodeString(s); err != nil {
			return err
		}
	}
	return nil
}

func appendStrings(b []byte, list []string) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSString(b, s)
	}
	return append(b, ']')
}

// marshalJSON encodes v without HTML escaping, as JSON.stringify does.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// newEncoder returns a MessagePack encoder writing into buf, with the
// settings that make it write what notepack.io writes.
func newEncoder(buf *bytes.Buffer) *msgpack.Encoder {
	enc := msgpack.NewEncoder(buf)
	enc.UseCompactInts(true)
	enc.UseCompactFloats(false)
	return enc
}

func newDecoder(b []byte) *msgpack.Decoder {
	return msgpack.NewDecoder(bytes.NewReader(b))
}
