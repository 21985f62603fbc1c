package outbox

import (
	"log/slog"
	"sync/atomic"
)

// Stats are the outbox's counters; /metrics reads them. Any goroutine may
// read them without a lock.
type Stats struct {
	Depth       atomic.Int64  // statuses waiting for the publisher now
	MaxDepth    atomic.Int64  // the most that ever waited
	Spilled     atomic.Int64  // of Depth, statuses waiting on disk only (durable outbox past its memory)
	Errors      atomic.Uint64 // file errors: a write or fsync refused (disk full), an unreadable record
	MemoryOnly  atomic.Int64  // statuses the disk refused, held in memory only (durable outbox)
	Dropped     atomic.Uint64 // statuses lost: the disk refused them and outbox.memory was full
	Parked      atomic.Int64  // statuses in the dead letter now
	ParkedTotal atomic.Uint64 // statuses this process parked
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

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
