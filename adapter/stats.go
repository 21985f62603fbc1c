package adapter

import "sync/atomic"

// Stats holds the daemon's counters. Metrics (a later issue) read them; the
// fields are atomics so any goroutine may update them without a lock.
type Stats struct {
	EventsIn        atomic.Uint64 // events handed to the engine queue by sources
	EventsApplied   atomic.Uint64 // events the engine applied
	EventsDropped   atomic.Uint64 // events lost (shutdown with a full path); should stay 0
	QueueDepth      atomic.Int64  // events waiting for the engine now
	QueueMaxDepth   atomic.Int64  // the most events that ever waited
	StatusesEmitted atomic.Uint64 // final statuses from the engine
	Published       atomic.Uint64 // statuses acknowledged by NATS
	PublishRetries  atomic.Uint64 // failed publish attempts that were retried
	PublishDropped  atomic.Uint64 // statuses never acknowledged (shutdown deadline)
	OutboxDepth     atomic.Int64  // statuses waiting for the publisher now
	OutboxMaxDepth  atomic.Int64
	OutboxSpilled   atomic.Int64  // of those, statuses waiting on disk only (durable outbox past its memory)
	OutboxErrors    atomic.Uint64 // durable outbox file errors (a status kept in memory, or an unreadable record)
	SourceDowns     atomic.Uint64 // source connection losses
	SourceUps       atomic.Uint64 // source (re)connections
}

// storeMax raises m to v when v is larger.
func storeMax(m *atomic.Int64, v int64) {
	for {
		old := m.Load()
		if v <= old || m.CompareAndSwap(old, v) {
			return
		}
	}
}
