package adapter

import (
	"sync"

	"github.com/callstatus/callstatus/mapping"
)

// Outbox holds final statuses until the publisher has them acknowledged.
// Push never blocks the engine; the publisher peeks at the head, publishes
// it until NATS acknowledges, then pops it, so a status leaves the outbox
// only once it is safe (or the shutdown deadline gives up on it).
// It lives in memory: a status still queued when the process dies is lost.
type Outbox struct {
	mu     sync.Mutex
	items  []mapping.CallStatus
	closed bool
	notify chan struct{} // capacity 1: "something changed"
	stats  *Stats
}

// NewOutbox returns an empty outbox; stats may be nil.
func NewOutbox(stats *Stats) *Outbox {
	if stats == nil {
		stats = new(Stats)
	}
	return &Outbox{notify: make(chan struct{}, 1), stats: stats}
}

// Push appends a status. Pushing after Close is a programming error and
// panics, like sending on a closed channel.
func (o *Outbox) Push(cs mapping.CallStatus) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		panic("adapter: push on closed outbox")
	}
	o.items = append(o.items, cs)
	n := int64(len(o.items))
	o.mu.Unlock()
	o.stats.OutboxDepth.Store(n)
	storeMax(&o.stats.OutboxMaxDepth, n)
	o.signal()
}

// Close says no more statuses will come; the publisher stops once empty.
func (o *Outbox) Close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.signal()
}

// Peek returns the oldest status. ok is false when the outbox is empty;
// closed then tells whether more may come.
func (o *Outbox) Peek() (cs mapping.CallStatus, ok, closed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.items) == 0 {
		return mapping.CallStatus{}, false, o.closed
	}
	return o.items[0], true, o.closed
}

// Pop removes the oldest status (the one Peek returned).
func (o *Outbox) Pop() {
	o.mu.Lock()
	if len(o.items) > 0 {
		o.items[0] = mapping.CallStatus{}
		o.items = o.items[1:]
		if len(o.items) == 0 {
			o.items = nil
		}
	}
	n := int64(len(o.items))
	o.mu.Unlock()
	o.stats.OutboxDepth.Store(n)
}

// Len is the number of statuses waiting.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items)
}

// Changed is signalled after a Push or Close.
func (o *Outbox) Changed() <-chan struct{} { return o.notify }

func (o *Outbox) signal() {
	select {
	case o.notify <- struct{}{}:
	default:
	}
}
