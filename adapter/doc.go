// Package adapter runs the daemon: it supervises the AMI and ARI sources,
// feeds their events to the one goroutine that owns the mapping engine, and
// hands each final call status to the outbox (package outbox), which the
// publisher (package publish) drains onto NATS; package ops serves the
// operations endpoints.
//
// The event path never blocks a source: Asterisk drops an AMI client that
// does not read for 100 ms, so between the sources and the engine sits an
// unbounded queue, and between the engine and NATS an unbounded outbox that
// the publisher drains, retrying until the server acknowledges.
package adapter
