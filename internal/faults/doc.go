// Package faults has the test-only fault points of the crash tests
// (ADR 0014). In a normal build Point does nothing and costs nothing.
//
// Built with -tags faults (the Makefile's bin/eventide-faults; never the
// shipped binary), the environment variable EVENTIDE_FAULTS names the points
// to act on, as comma-separated point=action pairs, e.g.
//
//	EVENTIDE_FAULTS=relay.before_publish=hold,relay.start=hold
//
// The one action is "hold": a goroutine that reaches the point blocks until
// the process receives SIGUSR1 (it says so on stderr first); after that the
// point lets everyone through. A test holds the relay after a
// commit, kills the process with SIGKILL, and knows the event was committed
// and not published.
package faults
