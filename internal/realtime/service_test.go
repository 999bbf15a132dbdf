package realtime

import (
	"fmt"
	"testing"
)

func TestSeqsDropDuplicatesAndLateChanges(t *testing.T) {
	m := seqs{limit: 100}
	for _, c := range []struct {
		provider string
		seq      int64
		want     bool
	}{
		{"42", 1, true}, {"42", 2, true}, {"42", 2, false}, {"42", 1, false}, {"7", 1, true},
		{"42", 4, true}, // a gap is delivered: the client sees it and catches up
		{"42", 3, false},
	} {
		got := m.isNew(c.provider, c.seq)
		if got != c.want {
			t.Fatalf("isNew(%s, %d) = %v, want %v", c.provider, c.seq, got, c.want)
		}
		if got {
			m.sent(c.provider, c.seq)
		}
	}
}

func TestSeqsStayBounded(t *testing.T) {
	m := seqs{limit: 10}
	for i := range 1000 {
		m.sent(fmt.Sprint(i), 1)
		if n := len(m.cur) + len(m.prev); n > 10 {
			t.Fatalf("%d providers remembered after %d, limit 10", n, i+1)
		}
	}
	// The most recent ones are still known.
	if m.isNew("999", 1) || m.isNew("995", 1) {
		t.Fatal("a recent provider's seq was forgotten")
	}
	// A provider seen again moves to the current generation.
	m.sent("994", 2)
	for i := range 5 {
		m.sent(fmt.Sprint("x", i), 1)
	}
	if m.isNew("994", 2) {
		t.Fatal("a provider used again was forgotten")
	}
}
