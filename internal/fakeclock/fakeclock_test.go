package fakeclock_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/fakeclock"
)

func TestAdvanceRunsDueTimersInOrder(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	c := fakeclock.New(start)
	var got []string
	var seen []time.Duration
	rec := func(name string) func() {
		return func() { got = append(got, name); seen = append(seen, c.Now().Sub(start)) }
	}
	c.AfterFunc(3*time.Second, rec("c"))
	c.AfterFunc(time.Second, rec("a"))
	stop := c.AfterFunc(2*time.Second, rec("stopped"))
	c.AfterFunc(2*time.Second, func() {
		rec("b")()
		c.AfterFunc(500*time.Millisecond, rec("b+")) // due within the same Advance
	})
	if !stop() || stop() {
		t.Fatal("stop: want true once, then false")
	}
	if c.Pending() != 3 {
		t.Fatalf("Pending = %d", c.Pending())
	}
	c.Advance(2500 * time.Millisecond)
	want := []string{"a", "b", "b+"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	if !reflect.DeepEqual(seen, []time.Duration{time.Second, 2 * time.Second, 2500 * time.Millisecond}) {
		t.Fatalf("Now seen by the timers: %v", seen)
	}
	if c.Now().Sub(start) != 2500*time.Millisecond || c.Pending() != 1 {
		t.Fatalf("Now %v, Pending %d", c.Now().Sub(start), c.Pending())
	}
	c.Set(start.Add(3 * time.Second))
	if len(got) != 4 || got[3] != "c" {
		t.Fatalf("ran %v", got)
	}
}

func TestWaitPendingAndImmediate(t *testing.T) {
	c := fakeclock.New(time.Unix(0, 0))
	ran := make(chan struct{})
	c.AfterFunc(0, func() { close(ran) })
	<-ran // a d <= 0 runs at once, without Advance
	go c.AfterFunc(time.Minute, func() {})
	if !c.WaitPending(1, 10*time.Second) {
		t.Fatal("timer never armed")
	}
	if c.WaitPending(2, time.Millisecond) {
		t.Fatal("WaitPending(2) with one timer")
	}
}
