// Package outbox holds final statuses until NATS acknowledges them: in memory,
// or in a segment log on disk that survives a restart (file.go).
package outbox

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/callstatus/callstatus/mapping"
)

// Outbox holds final statuses until the publisher has them acknowledged.
// Push never blocks the engine; the publisher peeks at the head, publishes
// it until NATS acknowledges, then pops it, so a status leaves the outbox
// only once it is safe (or the shutdown deadline gives up on it).
//
// NewOutbox keeps statuses in memory: one still queued when the process
// dies is lost. OpenOutbox keeps them in a segment log on disk
// (outboxfile.go) that the next start publishes.
type Outbox struct {
	mu     sync.Mutex
	items  []mapping.CallStatus // memory-only statuses (all of them without a store)
	store  *fileStore           // nil: memory only
	closed bool
	notify chan struct{} // capacity 1: "something changed"
	stats  *Stats
	log    *slog.Logger
}

// NewOutbox returns an empty in-memory outbox; stats may be nil.
func New(stats *Stats) *Outbox {
	if stats == nil {
		stats = new(Stats)
	}
	return &Outbox{notify: make(chan struct{}, 1), stats: stats, log: orDiscard(nil)}
}

// OpenOutbox opens the durable outbox in dir, with what an earlier run
// left unacknowledged first in line. At most memMax statuses are held in
// memory; the rest wait on disk. Release it after the publisher stopped.
func Open(dir string, memMax int, stats *Stats, log *slog.Logger) (*Outbox, error) {
	if stats == nil {
		stats = new(Stats)
	}
	log = orDiscard(log).With("component", "outbox")
	if memMax < 1 {
		return nil, fmt.Errorf("outbox: memory must be at least 1, got %d", memMax)
	}
	st, err := openFileStore(dir, memMax, stats, log)
	if err != nil {
		return nil, err
	}
	o := &Outbox{store: st, notify: make(chan struct{}, 1), stats: stats, log: log}
	o.depth()
	return o, nil
}

// Push appends a status. Pushing after Close is a programming error and
// panics, like sending on a closed channel. With a store, a status that
// cannot be written stays in memory (counted in Stats.Errors).
func (o *Outbox) Push(cs mapping.CallStatus) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		panic("outbox: push on closed outbox")
	}
	if o.store == nil {
		o.items = append(o.items, cs)
	} else if err := o.store.append(cs); err != nil {
		o.stats.Errors.Add(1)
		o.log.Error("status kept in memory only", "call_id", cs.CallID, "err", err)
		o.items = append(o.items, cs)
	}
	o.depth()
	o.mu.Unlock()
	o.signal()
}

// depth publishes the length to the stats; mu is held.
func (o *Outbox) depth() {
	n := int64(o.length())
	o.stats.Depth.Store(n)
	storeMax(&o.stats.MaxDepth, n)
}

func (o *Outbox) length() int {
	n := len(o.items)
	if o.store != nil {
		n += o.store.len()
	}
	return n
}

// Close says no more statuses will come; the publisher stops once empty.
func (o *Outbox) Close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.signal()
}

// Release syncs and closes the store (a no-op in memory). What is still
// queued stays on disk for the next start.
func (o *Outbox) Release() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.store == nil {
		return nil
	}
	err := o.store.close()
	o.store = nil
	return err
}

// Durable says whether statuses left at shutdown survive for the next start.
func (o *Outbox) Durable() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.store != nil && len(o.items) == 0
}

// Peek returns the oldest status. ok is false when the outbox is empty;
// closed then tells whether more may come.
func (o *Outbox) Peek() (cs mapping.CallStatus, ok, closed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.store != nil {
		if cs, ok := o.store.peek(); ok {
			return cs, true, o.closed
		}
	}
	if len(o.items) == 0 {
		return mapping.CallStatus{}, false, o.closed
	}
	return o.items[0], true, o.closed
}

// Pop removes the oldest status (the one Peek returned).
func (o *Outbox) Pop() {
	o.mu.Lock()
	if o.store != nil && o.store.len() > 0 {
		o.store.pop()
	} else if len(o.items) > 0 {
		o.items[0] = mapping.CallStatus{}
		o.items = o.items[1:]
		if len(o.items) == 0 {
			o.items = nil
		}
	}
	n := int64(o.length())
	o.mu.Unlock()
	o.stats.Depth.Store(n)
}

// Len is the number of statuses waiting.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.length()
}

// Changed is signalled after a Push or Close.
func (o *Outbox) Changed() <-chan struct{} { return o.notify }

func (o *Outbox) signal() {
	select {
	case o.notify <- struct{}{}:
	default:
	}
}
