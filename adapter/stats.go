package adapter

import (
	"sync/atomic"

	"github.com/callstatus/callstatus/ops"
	"github.com/callstatus/callstatus/outbox"
	"github.com/callstatus/callstatus/publish"
)

// Stats holds the daemon's counters; /metrics reads them. The fields are
// atomics so any goroutine may update them without a lock.
type Stats struct {
	EventsIn        atomic.Uint64 // events handed to the engine queue by sources
	EventsApplied   atomic.Uint64 // events the engine applied
	EventsDropped   atomic.Uint64 // events lost (shutdown with a full path); should stay 0
	QueueDepth      atomic.Int64  // events waiting for the engine now
	QueueMaxDepth   atomic.Int64  // the most events that ever waited
	StatusesEmitted atomic.Uint64 // final statuses from the engine
	PublishDropped  atomic.Uint64 // statuses never acknowledged (shutdown deadline)
	SourceDowns     atomic.Uint64 // source connection losses
	SourceUps       atomic.Uint64 // source (re)connections

	Outbox  outbox.Stats  // the outbox's own counters
	Publish publish.Stats // the publisher's own counters
}

// Counters reads the counters /metrics exposes.
func (s *Stats) Counters() ops.Counters {
	return ops.Counters{
		QueueLength:     s.QueueDepth.Load(),
		QueueMaxLength:  s.QueueMaxDepth.Load(),
		EventsDropped:   s.EventsDropped.Load(),
		StatusesEmitted: s.StatusesEmitted.Load(),
		OutboxLength:    s.Outbox.Depth.Load(),
		OutboxMaxLength: s.Outbox.MaxDepth.Load(),
		PublishErrors:   s.Publish.Retries.Load(),
		StatusesDropped: s.PublishDropped.Load() + s.Outbox.Dropped.Load(),
		SourceDowns:     s.SourceDowns.Load(),
		OutboxErrors:    s.Outbox.Errors.Load(),
		OutboxMemory:    s.Outbox.MemoryOnly.Load(),
		Parked:          s.Outbox.Parked.Load(),
		ParkedTotal:     s.Outbox.ParkedTotal.Load(),
		LedgerErrors:    s.Publish.LedgerErrors.Load(),
	}
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
