// Package adapter runs the daemon: it supervises the AMI and ARI sources,
// feeds their events to the one goroutine that owns the mapping engine, and
// publishes each final call status on NATS (an embedded server by default).
//
// The event path never blocks a source: Asterisk drops an AMI client that
// does not read for 100 ms, so between the sources and the engine sits an
// unbounded queue, and between the engine and NATS an unbounded outbox that
// the publisher drains, retrying until the server acknowledges.
package adapter
