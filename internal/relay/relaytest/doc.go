// Package relaytest has what tests of the relay and of event logs share: a
// manual Clock that moves only when told, and a Recorder Publisher.
package relaytest
