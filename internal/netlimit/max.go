package netlimit

// fallbackOpenFiles is assumed when the open-file limit cannot be read.
const fallbackOpenFiles = 4096

// maxOpenFiles bounds the limit used, for "unlimited" and huge limits.
const maxOpenFiles = 1 << 24

// DefaultMaxConns is the cap derived from the process's open-file limit:
// the limit less a reserve of a sixteenth (at least 64, at most half) for
// the database, the listeners, the event loop and the logs. With the
// common limit of 1,024 that is 960 connections; with 65,536, 61,440.
func DefaultMaxConns() int { return maxConnsFor(openFileLimit()) }

func maxConnsFor(nofile uint64) int {
	nofile = min(nofile, maxOpenFiles)
	reserve := max(64, nofile/16)
	reserve = min(reserve, nofile/2)
	return int(nofile - reserve)
}
