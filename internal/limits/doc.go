// Package limits reports the limits clients run into: the server-side bounds
// on what a client can make the server hold (body sizes, idle time, sessions,
// rooms, connections...). Every package that enforces a limit calls
// Reporter.Hit when a client reaches it.
//
// A Reporter writes at most one WARN line per limit per interval, with the
// remote address of the hit that triggered it and how many hits were not
// logged since the last line, so an attacker who hits a limit a million
// times cannot fill the disk. It also counts every hit per limit, for
// operators (and the metrics endpoint).
//
// A nil *Reporter is valid and does nothing, so packages and tests that do
// not care can leave it unset.
package limits
