// Package admin is the operator-only HTTP surface of the server: the Go
// runtime's profiles (net/http/pprof) today, and the Prometheus /metrics
// endpoint of issue 12 later.
//
// It runs on a listener of its own (--admin-addr, default 127.0.0.1:9090),
// never on the public router: pprof hands out goroutine stacks, heap
// profiles and the command line to anyone who asks, without authentication,
// so Listen refuses any address that is not loopback. Operators reach it
// from the machine itself (or through an SSH tunnel), as they do the
// database.
package admin
