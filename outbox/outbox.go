// Package outbox holds final statuses until NATS acknowledges them: in memory,
// or in a segment log on disk that survives a restart (file.go).
package outbox

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

// Outbox holds final statuses until the publisher has them acknowledged.
// Push never blocks the engine; the publisher peeks at the head, publishes
// it until NATS acknowledges, then pops it, so a status leaves the outbox
// only once it is safe (or the shutdown deadline gives up on it).
//
// NewOutbox keeps statuses in memory: one still queued when the process
// dies is lost. OpenOutbox keeps them in a segment log on disk
// (file.go) that the next start publishes. When the disk refuses a write
// (full, or failing), the durable outbox holds up to memMax statuses in
// memory only, after those on disk, moves them back to disk as soon as a
// write succeeds, and says so in Problem.
type Outbox struct {
	mu      sync.Mutex
	items   []mapping.CallStatus // memory-only statuses (all of them without a store)
	store   *fileStore           // nil: memory only
	memMax  int                  // bound of items with a store
	closed  bool
	diskErr error     // why items are in memory only; nil when they are not
	since   time.Time // when the current head became the head (see HeadWait)

	parkedMem []Parked      // parked statuses the disk did not take (all of them without a store)
	notify    chan struct{} // capacity 1: "something changed"
	stats     *Stats
	log       *slog.Logger
}

// New returns an empty in-memory outbox; stats may be nil.
func New(stats *Stats) *Outbox {
	if stats == nil {
		stats = new(Stats)
	}
	return &Outbox{notify: make(chan struct{}, 1), stats: stats, log: orDiscard(nil)}
}

// Open opens the durable outbox in dir, with what an earlier run left
// unacknowledged first in line. At most memMax statuses are held in
// memory; the rest wait on disk. Release it after the publisher stopped.
func Open(dir string, memMax int, stats *Stats, log *slog.Logger) (*Outbox, error) {
	return OpenWith(OS, dir, memMax, stats, log)
}

// OpenWith is Open writing through fs (tests make the disk fail).
func OpenWith(fs FileSystem, dir string, memMax int, stats *Stats, log *slog.Logger) (*Outbox, error) {
	if stats == nil {
		stats = new(Stats)
	}
	log = orDiscard(log).With("component", "outbox")
	if memMax < 1 {
		return nil, fmt.Errorf("outbox: memory must be at least 1, got %d", memMax)
	}
	st, err := openFileStore(fs, dir, memMax, stats, log)
	if err != nil {
		return nil, err
	}
	o := &Outbox{store: st, memMax: memMax, notify: make(chan struct{}, 1), stats: stats, log: log, since: time.Now()}
	o.depth()
	return o, nil
}

// Push appends a status. Pushing after Close is a programming error and
// panics, like sending on a closed channel. With a store, a status that
// cannot be written stays in memory (counted in Stats.Errors and
// Stats.MemoryOnly), up to memMax; past that it is dropped (counted in
// Stats.Dropped): the engine must never wait for the disk.
func (o *Outbox) Push(cs mapping.CallStatus) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		panic("outbox: push on closed outbox")
	}
	if o.length() == 0 {
		o.since = time.Now()
	}
	if o.store == nil {
		o.items = append(o.items, cs)
	} else {
		o.toDisk()
		var err error
		if len(o.items) == 0 {
			err = o.store.append(cs)
		} else {
			err = o.diskErr // keep the order: after those still in memory
		}
		if err != nil {
			o.hold(cs, err)
		} else {
			o.diskErr = nil
		}
	}
	o.depth()
	o.mu.Unlock()
	o.signal()
}

// hold keeps cs in memory after the disk refused it; mu is held.
func (o *Outbox) hold(cs mapping.CallStatus, err error) {
	if o.diskErr == nil {
		o.log.Error("disk refused a status; holding statuses in memory until it takes them again",
			"call_id", cs.CallID, "memory", o.memMax, "err", err)
	}
	o.diskErr = err
	o.stats.Errors.Add(1)
	if len(o.items) >= o.memMax {
		n := o.stats.Dropped.Add(1)
		if n&(n-1) == 0 { // 1, 2, 4, 8…: visible without a line per status
			o.log.Error("status dropped: the disk refuses writes and outbox.memory is full",
				"call_id", cs.CallID, "dropped", n, "memory", o.memMax, "err", err)
		}
		return
	}
	o.items = append(o.items, cs)
	o.stats.MemoryOnly.Store(int64(len(o.items)))
}

// toDisk moves statuses held in memory to the store, oldest first, while
// it takes them; mu is held.
func (o *Outbox) toDisk() {
	if o.store == nil || len(o.items) == 0 {
		return
	}
	moved := 0
	for len(o.items) > 0 {
		if err := o.store.append(o.items[0]); err != nil {
			o.diskErr = err
			o.stats.Errors.Add(1)
			break
		}
		o.items[0] = mapping.CallStatus{}
		o.items = o.items[1:]
		moved++
	}
	if len(o.items) == 0 {
		o.items = nil
		o.diskErr = nil
		o.log.Info("disk takes statuses again", "moved_from_memory", moved)
	}
	o.stats.MemoryOnly.Store(int64(len(o.items)))
}

// Problem says what is wrong with the outbox's disk, "" when nothing: a
// write or fsync failing, statuses held in memory only.
func (o *Outbox) Problem() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.store == nil {
		return ""
	}
	err := o.store.failed()
	if err == nil {
		err = o.diskErr
	}
	if err == nil && len(o.items) == 0 {
		return ""
	}
	return fmt.Sprintf("disk write failing (%v): %d statuses in memory only (at most outbox.memory %d), %d dropped",
		err, len(o.items), o.memMax, o.stats.Dropped.Load())
}

// MemoryOnly is how many waiting statuses would not survive a restart.
func (o *Outbox) MemoryOnly() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items)
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
	o.since = time.Now()
	if o.store != nil && o.store.len() > 0 {
		o.store.pop()
	} else if len(o.items) > 0 {
		o.items[0] = mapping.CallStatus{}
		o.items = o.items[1:]
		if len(o.items) == 0 {
			o.items = nil
		}
		if o.store != nil {
			o.stats.MemoryOnly.Store(int64(len(o.items)))
		}
	}
	n := int64(o.length())
	o.mu.Unlock()
	o.stats.Depth.Store(n)
}

// HeadWait is how long the oldest waiting status has been first in line
// (0 when none waits): the time since it was pushed into an empty outbox,
// or since the status before it left. It is a lower bound of its age,
// measured on this host's clock alone.
func (o *Outbox) HeadWait(now time.Time) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.length() == 0 {
		return 0
	}
	return now.Sub(o.since)
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
