//go:build !faults

package faults

// Enabled reports whether this binary was built with fault points.
const Enabled = false

// Point is a fault point; without the faults build tag it does nothing.
func Point(name string) {}
