package engineio

import "time"

// Clock is the engine's time: the heartbeat and the closing deadline run on
// it. Config.Clock defaults to the real clock; tests drive a fake one, so a
// heartbeat test never waits on the wall clock.
//
// Network deadlines (a POST body's read, a long-poll's write, the upgrade
// probe) are set on the sockets themselves and use the real clock.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a fake clock, the
	// caller's) once d has passed, unless the timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer made by Clock.AfterFunc; *time.Timer implements it.
type Timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
