// Package abuse is `eventide-bench abuse`: it reproduces, against a running
// server on this machine, what an attacker did in issue 9 (slow and stalled
// request bodies, oversized headers, idle connections up to the descriptor
// limit, WebSocket frames that never arrive, oversized handshake auth, many
// rooms, heavy list reads) and prints what the server held meanwhile: RSS,
// open descriptors and goroutines before, during and after each attack;
// whether a canary Socket.IO client missed any event the tool triggered over
// REST; and whether REST and a new Socket.IO client were still served, and
// how fast.
//
// It is a measuring tool, not a test: every figure is printed, with the
// issue's targets beside them. Every run is bounded in connections and time
// and targets only 127.0.0.0/8. With Spawn it starts a fresh server of its
// own for every scenario (and under a small descriptor limit for the
// fd-limit one), so each scenario's "before" is a clean server.
package abuse
