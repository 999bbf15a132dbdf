//go:build !unix

package netlimit

func openFileLimit() uint64 { return fallbackOpenFiles }
