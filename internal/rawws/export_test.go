package rawws

// MessagesInProgress counts the clients whose reader has begun a message
// (read its first frame's header) and not finished it: a test waits for it
// before it moves the clock towards MessageTimeout.
func MessagesInProgress(s *Service) int {
	n := 0
	for _, c := range s.snapshot() {
		if c.started.Load() != c.finished.Load() {
			n++
		}
	}
	return n
}
