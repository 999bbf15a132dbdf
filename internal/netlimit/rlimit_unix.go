//go:build unix

package netlimit

import "syscall"

// openFileLimit returns the process's open-file limit (RLIMIT_NOFILE;
// the Go runtime raises the soft limit to the hard one at start).
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fallbackOpenFiles
	}
	return rl.Cur
}
