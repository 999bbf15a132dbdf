package redisadapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// This file translates between the three ways a JavaScript value travels:
// JSON text (what a Socket.IO packet carries, and the classic adapter's
// JSON requests), MessagePack (what notepack.io and @msgpack/msgpack write
// to Redis), and Go values shaped like encoding/json's (map[string]any,
// []any, float64, string, bool, nil, with []byte for binary).
//
// It keeps what JavaScript would keep: the order of an object's keys, and
// numbers as JavaScript numbers. A packet's JSON becomes MessagePack with
// the same keys in the same order and its binary placeholders as bin, the
// bytes notepack.io writes for the same packet; MessagePack becomes the JSON
// text JSON.stringify would write, binary values becoming placeholders and
// attachments as socket.io-parser's Encoder makes them.

// maxDepth bounds the nesting of a value read from Redis, so a malformed
// message cannot exhaust the stack.
const maxDepth = 100

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER.
const maxSafeInteger = 1<<53 - 1

var errTooDeep = errors.New("redisadapter: value nested too deeply")

// jnode is a JSON value with its object keys in order.
type jnode struct {
	kind byte   // 'n' null, 'b' bool, 's' string, 'd' number, 'a' array, 'o' object
	b    bool   // for 'b'
	s    string // string value, or the number's text
	keys []string
	kids []jnode // array items, or object values in keys' order
}

// parseJSON reads one JSON value keeping its keys' order. The JSON comes
// from a Packet this process encoded (encoding/json's output), but it is
// checked as any JSON is.
func parseJSON(data []byte) (jnode, error) {
	p := jsonParser{data: data}
	n, err := p.value(0)
	if err != nil {
		return jnode{}, err
	}
	p.space()
	if p.i != len(p.data) {
		return jnode{}, p.fail("trailing data after the value")
	}
	return n, nil
}

// jsonParser is a recursive-descent JSON reader into jnodes: one pass, no
// tokens, strings copied once.
type jsonParser struct {
	data []byte
	i    int
}

func (p *jsonParser) fail(what string) error {
	return fmt.Errorf("redisadapter: JSON at %d: %s", p.i, what)
}

func (p *jsonParser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (jnode, error) {
	if depth > maxDepth {
		return jnode{}, errTooDeep
	}
	p.space()
	if p.i >= len(p.data) {
		return jnode{}, p.fail("unexpected end")
	}
	switch c := p.data[p.i]; {
	case c == '{':
		p.i++
		n := jnode{kind: 'o'}
		p.space()
		if p.i < len(p.data) && p.data[p.i] == '}' {
			p.i++
			return n, nil
		}
		for {
			p.space()
			if p.i >= len(p.data) || p.data[p.i] != '"' {
				return jnode{}, p.fail("expected a key")
			}
			key, err := p.str()
			if err != nil {
				return jnode{}, err
			}
			p.space()
			if p.i >= len(p.data) || p.data[p.i] != ':' {
				return jnode{}, p.fail("expected ':'")
			}
			p.i++
			v, err := p.value(depth + 1)
			if err != nil {
				return jnode{}, err
			}
			n.keys = append(n.keys, key)
			n.kids = append(n.kids, v)
			if done, err := p.next('}'); err != nil || done {
				return n, err
			}
		}
	case c == '[':
		p.i++
		n := jnode{kind: 'a'}
		p.space()
		if p.i < len(p.data) && p.data[p.i] == ']' {
			p.i++
			return n, nil
		}
		for {
			v, err := p.value(depth + 1)
			if err != nil {
				return jnode{}, err
			}
			n.kids = append(n.kids, v)
			if done, err := p.next(']'); err != nil || done {
				return n, err
			}
		}
	case c == '"':
		s, err := p.str()
		return jnode{kind: 's', s: s}, err
	case c == 't':
		return jnode{kind: 'b', b: true}, p.word("true")
	case c == 'f':
		return jnode{kind: 'b'}, p.word("false")
	case c == 'n':
		return jnode{kind: 'n'}, p.word("null")
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.i
		p.i++
		for p.i < len(p.data) {
			c := p.data[p.i]
			if (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' {
				p.i++
				continue
			}
			break
		}
		text := string(p.data[start:p.i])
		if !jsonNumber(text) {
			return jnode{}, p.fail("bad number " + text)
		}
		return jnode{kind: 'd', s: text}, nil
	}
	return jnode{}, p.fail(fmt.Sprintf("unexpected %q", p.data[p.i]))
}

// jsonNumber reports whether s is a JSON number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func jsonNumber(s string) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// next reads ',' (false) or the closing byte (true).
func (p *jsonParser) next(closing byte) (bool, error) {
	p.space()
	if p.i >= len(p.data) {
		return false, p.fail("unexpected end")
	}
	switch p.data[p.i] {
	case ',':
		p.i++
		return false, nil
	case closing:
		p.i++
		return true, nil
	}
	return false, p.fail("expected ',' or '" + string(closing) + "'")
}

func (p *jsonParser) word(w string) error {
	if !bytes.HasPrefix(p.data[p.i:], []byte(w)) {
		return p.fail("bad literal")
	}
	p.i += len(w)
	return nil
}

// str reads a string at p.i (its opening quote). One with escapes or
// invalid UTF-8 is unquoted by encoding/json (invalid bytes become U+FFFD).
func (p *jsonParser) str() (string, error) {
	start := p.i
	p.i++
	escaped := false
	for p.i < len(p.data) {
		switch c := p.data[p.i]; {
		case c == '"':
			p.i++
			if raw := p.data[start+1 : p.i-1]; !escaped && utf8.Valid(raw) {
				return string(raw), nil
			}
			var s string
			if err := json.Unmarshal(p.data[start:p.i], &s); err != nil {
				return "", p.fail("bad string")
			}
			return s, nil
		case c == '\\':
			escaped = true
			p.i += 2
		case c < 0x20:
			return "", p.fail("control character in a string")
		default:
			p.i++
		}
	}
	return "", p.fail("unterminated string")
}

// placeholder returns the attachment index of a socket.io-parser binary
// placeholder ({"_placeholder":true,"num":N}), or -1.
func (n *jnode) placeholder() int {
	if n.kind != 'o' {
		return -1
	}
	isPH, num := false, -1
	for i, k := range n.keys {
		v := &n.kids[i]
		switch k {
		case "_placeholder":
			isPH = v.kind == 'b' && v.b
		case "num":
			if v.kind == 'd' {
				if x, err := strconv.Atoi(v.s); err == nil {
					num = x
				}
			}
		}
	}
	if !isPH {
		return -1
	}
	return num
}

// writeMsgpack writes n as notepack.io would write the JavaScript value,
// replacing binary placeholders with the attachments they point at (nil
// attachments: placeholders stay objects).
func (n *jnode) writeMsgpack(enc *msgpack.Encoder, att [][]byte) error {
	switch n.kind {
	case 'n':
		return enc.EncodeNil()
	case 'b':
		return enc.EncodeBool(n.b)
	case 's':
		return enc.EncodeString(n.s)
	case 'd':
		return writeNumber(enc, n.s)
	case 'a':
		if err := enc.EncodeArrayLen(len(n.kids)); err != nil {
			return err
		}
		for i := range n.kids {
			if err := n.kids[i].writeMsgpack(enc, att); err != nil {
				return err
			}
		}
		return nil
	case 'o':
		if att != nil {
			if i := n.placeholder(); i >= 0 {
				if i >= len(att) {
					return fmt.Errorf("redisadapter: placeholder %d with %d attachments", i, len(att))
				}
				return enc.EncodeBytes(nonNil(att[i]))
			}
		}
		if err := enc.EncodeMapLen(len(n.keys)); err != nil {
			return err
		}
		for i, k := range n.keys {
			if err := enc.EncodeString(k); err != nil {
				return err
			}
			if err := n.kids[i].writeMsgpack(enc, att); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("redisadapter: bad JSON node %q", n.kind)
}

// nonNil keeps an empty attachment a bin of length 0 (EncodeBytes writes nil
// as nil).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// writeNumber writes a JSON number as a JavaScript number: an integer (safe
// in JavaScript) in the smallest integer format, any other as a float 64,
// as notepack.io and @msgpack/msgpack do.
func writeNumber(enc *msgpack.Encoder, text string) error {
	if i, err := strconv.ParseInt(text, 10, 64); err == nil && i >= -maxSafeInteger && i <= maxSafeInteger {
		return enc.EncodeInt(i)
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return fmt.Errorf("redisadapter: bad JSON number %q", text)
	}
	return writeFloat(enc, f)
}

func writeFloat(enc *msgpack.Encoder, f float64) error {
	if f == math.Trunc(f) && math.Abs(f) <= maxSafeInteger {
		return enc.EncodeInt(int64(f))
	}
	return enc.EncodeFloat64(f)
}

// jsonWriter turns MessagePack into the JSON text JSON.stringify writes,
// binary values becoming socket.io-parser placeholders and attachments.
type jsonWriter struct {
	buf []byte
	att [][]byte
	// placeholders: bin values become placeholders (a packet's data);
	// otherwise they are written as Node's Buffer.toJSON would.
	placeholders bool
}

// value writes the next value of dec. undefined reports a value JSON has no
// text for (an extension type other than a timestamp): the caller leaves it
// out of an object, and writes null in an array, as JSON.stringify does.
func (w *jsonWriter) value(dec *msgpack.Decoder, depth int) (undefined bool, err error) {
	if depth > maxDepth {
		return false, errTooDeep
	}
	c, err := dec.PeekCode()
	if err != nil {
		return false, err
	}
	switch {
	case c == msgpcode.Nil:
		_ = dec.DecodeNil()
		w.buf = append(w.buf, "null"...)
	case c == msgpcode.True || c == msgpcode.False:
		v, _ := dec.DecodeBool()
		w.buf = strconv.AppendBool(w.buf, v)
	case msgpcode.IsFixedNum(c) || c == msgpcode.Int8 || c == msgpcode.Int16 || c == msgpcode.Int32 || c == msgpcode.Int64:
		v, err := dec.DecodeInt64()
		if err != nil {
			return false, err
		}
		w.buf = appendJSInt(w.buf, v)
	case c == msgpcode.Uint8 || c == msgpcode.Uint16 || c == msgpcode.Uint32 || c == msgpcode.Uint64:
		v, err := dec.DecodeUint64()
		if err != nil {
			return false, err
		}
		if v > maxSafeInteger {
			w.buf = appendJSFloat(w.buf, float64(v))
		} else {
			w.buf = strconv.AppendUint(w.buf, v, 10)
		}
	case c == msgpcode.Float || c == msgpcode.Double:
		v, err := dec.DecodeFloat64()
		if err != nil {
			return false, err
		}
		w.buf = appendJSFloat(w.buf, v)
	case msgpcode.IsString(c):
		s, err := dec.DecodeString()
		if err != nil {
			return false, err
		}
		w.buf = appendJSString(w.buf, s)
	case msgpcode.IsBin(c):
		b, err := dec.DecodeBytes()
		if err != nil {
			return false, err
		}
		w.bin(nonNil(b))
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return false, err
		}
		w.buf = append(w.buf, '[')
		for i := 0; i < n; i++ {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			undef, err := w.value(dec, depth+1)
			if err != nil {
				return false, err
			}
			if undef {
				w.buf = append(w.buf, "null"...)
			}
		}
		w.buf = append(w.buf, ']')
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := dec.DecodeMapLen()
		if err != nil {
			return false, err
		}
		w.buf = append(w.buf, '{')
		first := true
		for i := 0; i < n; i++ {
			mark := len(w.buf)
			if !first {
				w.buf = append(w.buf, ',')
			}
			key, err := mapKey(dec)
			if err != nil {
				return false, err
			}
			w.buf = appendJSString(w.buf, key)
			w.buf = append(w.buf, ':')
			undef, err := w.value(dec, depth+1)
			if err != nil {
				return false, err
			}
			if undef {
				w.buf = w.buf[:mark]
				continue
			}
			first = false
		}
		w.buf = append(w.buf, '}')
	case msgpcode.IsExt(c) || msgpcode.IsFixedExt(c):
		return w.ext(dec)
	default:
		return false, fmt.Errorf("redisadapter: unexpected MessagePack code 0x%x", c)
	}
	return false, nil
}

// bin writes a binary value: a placeholder for the next attachment, or
// Buffer.toJSON's {"type":"Buffer","data":[...]}.
func (w *jsonWriter) bin(b []byte) {
	if w.placeholders {
		w.buf = append(w.buf, `{"_placeholder":true,"num":`...)
		w.buf = strconv.AppendInt(w.buf, int64(len(w.att)), 10)
		w.buf = append(w.buf, '}')
		w.att = append(w.att, b)
		return
	}
	w.buf = append(w.buf, `{"type":"Buffer","data":[`...)
	for i, x := range b {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = strconv.AppendUint(w.buf, uint64(x), 10)
	}
	w.buf = append(w.buf, "]}"...)
}

// ext writes a timestamp as Date.toJSON does; other extension types are
// undefined in JavaScript.
func (w *jsonWriter) ext(dec *msgpack.Decoder) (bool, error) {
	raw, err := dec.DecodeRaw()
	if err != nil {
		return false, err
	}
	inner := msgpack.NewDecoder(bytes.NewReader(raw))
	if t, err := inner.DecodeTime(); err == nil {
		w.buf = appendJSString(w.buf, t.UTC().Format("2006-01-02T15:04:05.000Z"))
		return false, nil
	}
	return true, nil
}

// mapKey reads a map key as a JavaScript property name.
func mapKey(dec *msgpack.Decoder) (string, error) {
	c, err := dec.PeekCode()
	if err != nil {
		return "", err
	}
	switch {
	case msgpcode.IsString(c) || msgpcode.IsBin(c):
		return dec.DecodeString()
	case msgpcode.IsFixedNum(c) || c == msgpcode.Int8 || c == msgpcode.Int16 || c == msgpcode.Int32 || c == msgpcode.Int64:
		v, err := dec.DecodeInt64()
		return string(appendJSInt(nil, v)), err
	case c == msgpcode.Uint8 || c == msgpcode.Uint16 || c == msgpcode.Uint32 || c == msgpcode.Uint64:
		v, err := dec.DecodeUint64()
		return string(appendJSFloat(nil, float64(v))), err
	case c == msgpcode.Float || c == msgpcode.Double:
		v, err := dec.DecodeFloat64()
		return string(appendJSFloat(nil, v)), err
	}
	return "", fmt.Errorf("redisadapter: MessagePack map key of code 0x%x", c)
}

// appendJSInt writes an integer as JavaScript prints the number it becomes.
func appendJSInt(b []byte, v int64) []byte {
	if v > maxSafeInteger || v < -maxSafeInteger {
		return appendJSFloat(b, float64(v))
	}
	return strconv.AppendInt(b, v, 10)
}

// appendJSFloat writes f as JSON.stringify does (the ES number-to-string
// rules, which encoding/json follows too); NaN and infinities become null.
func appendJSFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-07 -> e-7, as JavaScript
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSString writes s quoted as JSON.stringify does: only '"', '\' and
// control characters are escaped; invalid UTF-8 becomes U+FFFD.
func appendJSString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c >= 0x20:
				b = append(b, c)
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// decodeValue reads the next MessagePack value as encoding/json would have
// decoded its JSON (objects map[string]any, arrays []any, numbers float64),
// binary values as []byte.
func decodeValue(dec *msgpack.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	c, err := dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return nil, dec.DecodeNil()
	case c == msgpcode.True || c == msgpcode.False:
		return dec.DecodeBool()
	case msgpcode.IsFixedNum(c) || c == msgpcode.Int8 || c == msgpcode.Int16 || c == msgpcode.Int32 || c == msgpcode.Int64:
		v, err := dec.DecodeInt64()
		return float64(v), err
	case c == msgpcode.Uint8 || c == msgpcode.Uint16 || c == msgpcode.Uint32 || c == msgpcode.Uint64:
		v, err := dec.DecodeUint64()
		return float64(v), err
	case c == msgpcode.Float || c == msgpcode.Double:
		return dec.DecodeFloat64()
	case msgpcode.IsString(c):
		return dec.DecodeString()
	case msgpcode.IsBin(c):
		b, err := dec.DecodeBytes()
		return nonNil(b), err
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, 0, min(n, 64))
		for i := 0; i < n; i++ {
			v, err := decodeValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := dec.DecodeMapLen()
		if err != nil || n < 0 {
			return nil, err
		}
		out := make(map[string]any, min(n, 64))
		for i := 0; i < n; i++ {
			k, err := mapKey(dec)
			if err != nil {
				return nil, err
			}
			v, err := decodeValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case msgpcode.IsExt(c) || msgpcode.IsFixedExt(c):
		raw, err := dec.DecodeRaw()
		if err != nil {
			return nil, err
		}
		if t, err := msgpack.NewDecoder(bytes.NewReader(raw)).DecodeTime(); err == nil {
			return t.UTC().Format("2006-01-02T15:04:05.000Z"), nil
		}
		return nil, nil
	}
	return nil, fmt.Errorf("redisadapter: unexpected MessagePack code 0x%x", c)
}

// encodeValue writes a Go value as notepack.io would write the JavaScript
// value encoding/json makes of it, except that []byte is binary (bin), as a
// Node Buffer is. Map keys are sorted, as encoding/json sorts them.
func encodeValue(enc *msgpack.Encoder, v any, depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	switch x := v.(type) {
	case nil:
		return enc.EncodeNil()
	case bool:
		return enc.EncodeBool(x)
	case string:
		return enc.EncodeString(x)
	case []byte:
		return enc.EncodeBytes(nonNil(x))
	case float64:
		return writeFloat(enc, x)
	case float32:
		return writeFloat(enc, float64(x))
	case int:
		return writeFloat(enc, float64(x))
	case int64:
		return writeFloat(enc, float64(x))
	case int32:
		return enc.EncodeInt(int64(x))
	case uint32:
		return enc.EncodeInt(int64(x))
	case json.Number:
		return writeNumber(enc, string(x))
	case time.Time:
		return enc.EncodeString(x.UTC().Format("2006-01-02T15:04:05.000Z"))
	case []any:
		if err := enc.EncodeArrayLen(len(x)); err != nil {
			return err
		}
		for _, e := range x {
			if err := encodeValue(enc, e, depth+1); err != nil {
				return err
			}
		}
		return nil
	case []string:
		if err := enc.EncodeArrayLen(len(x)); err != nil {
			return err
		}
		for _, e := range x {
			if err := enc.EncodeString(e); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if err := enc.EncodeMapLen(len(keys)); err != nil {
			return err
		}
		for _, k := range keys {
			if err := enc.EncodeString(k); err != nil {
				return err
			}
			if err := encodeValue(enc, x[k], depth+1); err != nil {
				return err
			}
		}
		return nil
	case jnode:
		return x.writeMsgpack(enc, nil)
	}
	// Anything else goes the way encoding/json sends it.
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	n, err := parseJSON(b)
	if err != nil {
		return err
	}
	return n.writeMsgpack(enc, nil)
}

// hasBinary reports whether v holds a []byte (at the top or inside []any and
// map[string]any), as the adapters' hasBinary does for a Buffer.
func hasBinary(v any) bool {
	switch x := v.(type) {
	case []byte:
		return true
	case []any:
		return slices.ContainsFunc(x, hasBinary)
	case map[string]any:
		for _, e := range x {
			if hasBinary(e) {
				return true
			}
		}
	}
	return false
}
