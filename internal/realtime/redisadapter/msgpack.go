package redisadapter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// MessagePack read back as JSON text (a packet's data, for clients) or as
// Go values (requests' arguments and answers); Go values written as
// MessagePack. See json.go for the other direction and the rules both keep.

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
