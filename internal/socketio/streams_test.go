package socketio

import (
	"fmt"
	"reflect"
	"testing"
)

func TestStreamSeqsAcceptOnceInOrder(t *testing.T) {
	m := streamSeqs{limit: 100}
	for _, c := range []struct {
		stream string
		seq    int64
		want   bool
	}{
		{"42", 1, true}, {"42", 2, true}, {"42", 2, false}, {"42", 1, false}, {"7", 1, true},
		{"42", 4, true}, // a gap is delivered: the client sees it and catches up
		{"42", 3, false},
	} {
		if got := m.accept(c.stream, c.seq, nil, 0); got != c.want {
			t.Fatalf("accept(%s, %d) = %v, want %v", c.stream, c.seq, got, c.want)
		}
	}
}

func TestStreamSeqsStayBounded(t *testing.T) {
	m := streamSeqs{limit: 10}
	for i := range 1000 {
		m.accept(fmt.Sprint(i), 1, nil, 0)
		if n := len(m.cur) + len(m.prev); n > 10 {
			t.Fatalf("%d streams remembered after %d, limit 10", n, i+1)
		}
	}
	// The most recent ones are still known.
	if m.accept("999", 1, nil, 0) || m.accept("995", 1, nil, 0) {
		t.Fatal("a recent stream's seq was forgotten")
	}
	// A stream seen again moves to the current generation.
	m.accept("994", 2, nil, 0)
	for i := range 5 {
		m.accept(fmt.Sprint("x", i), 1, nil, 0)
	}
	if m.accept("994", 2, nil, 0) {
		t.Fatal("a stream used again was forgotten")
	}
}

func TestPacketDecodeAndAckID(t *testing.T) {
	for _, tc := range []struct {
		nsp  string
		args []any
		text string // with ack id 7
	}{
		{"/", []any{"a", 1.0}, `27["ev","a",1]`},
		{"/admin", []any{map[string]any{"k": "v"}}, `2/admin,7["ev",{"k":"v"}]`},
		{"/", []any{[]byte{1, 2}, "x"}, `51-7["ev",{"_placeholder":true,"num":0},"x"]`},
		{"/a-b", []any{[]any{[]byte{3}}}, `51-/a-b,7["ev",[{"_placeholder":true,"num":0}]]`},
	} {
		p, err := EncodeEvent(tc.nsp, NoID, "ev", tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		d, err := p.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if d.Namespace != tc.nsp || d.ID != NoID || !reflect.DeepEqual(d.Data, append([]any{"ev"}, tc.args...)) {
			t.Fatalf("Decode = %+v", d)
		}
		withID, err := p.withAckID(7)
		if err != nil {
			t.Fatal(err)
		}
		if string(withID.Text) != tc.text || !reflect.DeepEqual(withID.Attachments, p.Attachments) {
			t.Fatalf("withAckID = %q, want %q", withID.Text, tc.text)
		}
		if _, err := withID.withAckID(8); err == nil {
			t.Fatal("a second ack id accepted")
		}
	}
}
