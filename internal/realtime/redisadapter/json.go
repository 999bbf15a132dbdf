package redisadapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// This file and msgpack.go translate between the three ways a JavaScript value travels:
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
