// Package metrics is the server's Prometheus instrumentation (ADR 0024):
// one registry per server, the only importer of
// github.com/prometheus/client_golang.
package metrics
