package engineio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"
	"unicode/utf8"
)

// packet is one decoded incoming Engine.IO packet.
type packet struct {
	typ    byte // '0'..'6'
	data   []byte
	binary bool
}

var (
	errEmptyPacket   = errors.New("engineio: empty packet")
	errUnknownType   = errors.New("engineio: unknown packet type")
	errBadBase64     = errors.New("engineio: bad base64 packet")
	errBadLength     = errors.New("engineio: bad length prefix")
	errTruncated     = errors.New("engineio: payload truncated")
	errBinaryPayload = errors.New("engineio: binary payload not allowed")
)

// recordSeparator separates the packets of a v4 polling payload.
const recordSeparator = 0x1e

// maxLengthDigits bounds a v3 length prefix: no payload we accept is longer
// than 10^10 bytes, and a digit run cannot overflow or make us allocate.
const maxLengthDigits = 10

func validType(t byte) bool { return t >= typeOpen && t <= typeNoop }

// decodeTextPacket decodes a text-encoded packet: a type char and data, or
// "b" + base64 (v4) / "b4" + base64 (v3) for binary data.
func decodeTextPacket(rec []byte, proto int) (packet, error) {
	if len(rec) == 0 {
		return packet{}, errEmptyPacket
	}
	if rec[0] == 'b' {
		rest := rec[1:]
		typ := byte(typeMessage)
		if proto == 3 {
			if len(rest) == 0 || !validType(rest[0]) {
				return packet{}, errUnknownType
			}
			typ, rest = rest[0], rest[1:]
		}
		data := make([]byte, base64.StdEncoding.DecodedLen(len(rest)))
		n, err := base64.StdEncoding.Decode(data, rest)
		if err != nil {
			return packet{}, errBadBase64
		}
		return packet{typ: typ, data: data[:n], binary: true}, nil
	}
	if !validType(rec[0]) {
		return packet{}, errUnknownType
	}
	return packet{typ: rec[0], data: rec[1:]}, nil
}

// decodePayloadV4 decodes a v4 polling body: packets separated by \x1e.
func decodePayloadV4(body []byte) ([]packet, error) {
	var pkts []packet
	for {
		rec, rest, more := bytes.Cut(body, []byte{recordSeparator})
		p, err := decodeTextPacket(rec, 4)
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, p)
		if !more {
			return pkts, nil
		}
		body = rest
	}
}

// parseLength parses a decimal length prefix of at most maxLengthDigits.
func parseLength(digits []byte) (int, error) {
	if len(digits) == 0 || len(digits) > maxLengthDigits {
		return 0, errBadLength
	}
	n := 0
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, errBadLength
		}
		n = n*10 + int(d-'0')
	}
	return n, nil
}

// utf16Prefix returns how many bytes of s hold its first n UTF-16 code units
// (the unit the JavaScript client counts v3 lengths in). Invalid UTF-8 bytes
// count one unit each, as the decoder's replacement character does.
func utf16Prefix(s []byte, n int) (int, bool) {
	i, units := 0, 0
	for units < n {
		if i >= len(s) {
			return 0, false
		}
		r, size := utf8.DecodeRune(s[i:])
		u := 1
		if r >= 0x10000 {
			u = 2
		}
		if units+u > n {
			return 0, false // the count splits a surrogate pair
		}
		units += u
		i += size
	}
	return i, true
}

// utf16Len counts the UTF-16 code units of s.
func utf16Len(s []byte) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
		i += size
	}
	return n
}

// decodePayloadV3String decodes a v3 text payload: "<len>:<packet>"...,
// len counted in UTF-16 code units. Empty packets ("0:") are skipped.
func decodePayloadV3String(body []byte) ([]packet, error) {
	var pkts []packet
	if len(body) == 0 {
		return nil, errEmptyPacket
	}
	for len(body) > 0 {
		colon := bytes.IndexByte(body[:min(len(body), maxLengthDigits+1)], ':')
		if colon < 0 {
			return nil, errBadLength
		}
		n, err := parseLength(body[:colon])
		if err != nil {
			return nil, err
		}
		body = body[colon+1:]
		size, ok := utf16Prefix(body, n)
		if !ok {
			return nil, errTruncated
		}
		rec := body[:size]
		body = body[size:]
		if len(rec) == 0 {
			continue
		}
		p, err := decodeTextPacket(rec, 3)
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, p)
	}
	if len(pkts) == 0 {
		return nil, errEmptyPacket
	}
	return pkts, nil
}

// decodePayloadV3Binary decodes a v3 binary payload (XHR2 encoding): for each
// packet a 0 (string) or 1 (binary) byte, the length as one byte per decimal
// digit, 0xFF, then the packet (type char or type byte, then data).
func decodePayloadV3Binary(body []byte) ([]packet, error) {
	var pkts []packet
	if len(body) == 0 {
		return nil, errEmptyPacket
	}
	for len(body) > 0 {
		kind := body[0]
		if kind > 1 {
			return nil, errBadLength
		}
		n, i := 0, 1
		for ; ; i++ {
			if i >= len(body) || i > maxLengthDigits+1 {
				return nil, errBadLength
			}
			d := body[i]
			if d == 0xff {
				break
			}
			if d > 9 {
				return nil, errBadLength
			}
			n = n*10 + int(d)
		}
		if i == 1 {
			return nil, errBadLength
		}
		body = body[i+1:]
		if n > len(body) {
			return nil, errTruncated
		}
		rec := body[:n]
		body = body[n:]
		if len(rec) == 0 {
			return nil, errEmptyPacket
		}
		if kind == 0 {
			if !validType(rec[0]) {
				return nil, errUnknownType
			}
			pkts = append(pkts, packet{typ: rec[0], data: rec[1:]})
			continue
		}
		if rec[0] > 6 {
			return nil, errUnknownType
		}
		pkts = append(pkts, packet{typ: rec[0] + '0', data: rec[1:], binary: true})
	}
	return pkts, nil
}

// appendPayloadV4 encodes msgs as a v4 polling payload.
func appendPayloadV4(dst []byte, msgs []*Message) []byte {
	for i, m := range msgs {
		if i > 0 {
			dst = append(dst, recordSeparator)
		}
		if m.binary {
			dst = append(dst, 'b')
			dst = base64.StdEncoding.AppendEncode(dst, m.data)
			continue
		}
		dst = append(dst, m.typ)
		dst = append(dst, m.data...)
	}
	return dst
}

// appendPayloadV3String encodes msgs as a v3 text payload (binary as "b4"+base64).
func appendPayloadV3String(dst []byte, msgs []*Message) []byte {
	for _, m := range msgs {
		if m.binary {
			n := base64.StdEncoding.EncodedLen(len(m.data))
			dst = strconv.AppendInt(dst, int64(n+2), 10)
			dst = append(dst, ':', 'b', m.typ)
			dst = base64.StdEncoding.AppendEncode(dst, m.data)
			continue
		}
		dst = strconv.AppendInt(dst, int64(1+utf16Len(m.data)), 10)
		dst = append(dst, ':', m.typ)
		dst = append(dst, m.data...)
	}
	return dst
}

// appendPayloadV3Binary encodes msgs as a v3 binary (XHR2) payload.
func appendPayloadV3Binary(dst []byte, msgs []*Message) []byte {
	var digits [20]byte
	for _, m := range msgs {
		kind, typ := byte(0), m.typ
		if m.binary {
			kind, typ = 1, m.typ-'0'
		}
		dst = append(dst, kind)
		ds := strconv.AppendInt(digits[:0], int64(1+len(m.data)), 10)
		for _, d := range ds {
			dst = append(dst, d-'0')
		}
		dst = append(dst, 0xff, typ)
		dst = append(dst, m.data...)
	}
	return dst
}

// hasBinary reports whether any message is binary.
func hasBinary(msgs []*Message) bool {
	for _, m := range msgs {
		if m.binary {
			return true
		}
	}
	return false
}
