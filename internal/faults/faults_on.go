//go:build faults

package faults

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// Enabled reports whether this binary was built with fault points.
const Enabled = true

// points is read from the environment once. Package-level state, on
// purpose and only in this build: fault points sit deep in code that has
// no reason to carry test configuration.
var points = sync.OnceValue(func() map[string]*hold {
	m := map[string]*hold{}
	for _, kv := range strings.Split(os.Getenv("EVENTIDE_FAULTS"), ",") {
		name, action, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch {
		case name == "":
		case action == "hold":
			m[name] = &hold{released: make(chan struct{})}
		default:
			fmt.Fprintf(os.Stderr, "faults: unknown action %q for %s (want hold)\n", action, name)
		}
	}
	if len(m) > 0 {
		// One SIGUSR1 releases every hold.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGUSR1)
		go func() {
			<-sig
			for _, h := range m {
				h.release()
			}
		}()
	}
	return m
})

// init reads the environment at start, so a SIGUSR1 sent before any point
// is reached releases it rather than killing the process (Go's default).
func init() { points() }

type hold struct {
	once     sync.Once
	released chan struct{}
}

func (h *hold) release() { h.once.Do(func() { close(h.released) }) }

// Point blocks at a held point until SIGUSR1.
func Point(name string) {
	h := points()[name]
	if h == nil {
		return
	}
	select {
	case <-h.released:
		return
	default:
	}
	fmt.Fprintf(os.Stderr, "fault point %s: holding until SIGUSR1 (pid %d)\n", name, os.Getpid())
	<-h.released
	fmt.Fprintf(os.Stderr, "fault point %s: released\n", name)
}
