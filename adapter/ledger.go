package adapter

import (
	"context"
	"sync"
	"time"
)

// recentCalls remembers the call ids this run's engine emitted, so a
// backfill after a source's outage skips the calls the live engine already
// finished (those in flight when the source dropped: the snapshot after the
// reconnect ends them) even before any ledger bucket has them.
type recentCalls struct {
	mu   sync.Mutex
	ids  map[string]time.Time
	keep time.Duration
	adds int
}

func newRecentCalls(keep time.Duration) *recentCalls {
	return &recentCalls{ids: map[string]time.Time{}, keep: keep}
}

// add notes a call id emitted at now; ids older than keep are forgotten
// every few thousand adds.
func (r *recentCalls) add(id string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids[id] = now
	if r.adds++; r.adds%4096 == 0 {
		for k, t := range r.ids {
			if now.Sub(t) > r.keep {
				delete(r.ids, k)
			}
		}
	}
}

// Seen implements backfill.Ledger.
func (r *recentCalls) Seen(_ context.Context, id string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ids[id]
	return ok, nil
}

// ledgers asks each in turn: seen by any is seen.
type ledgers []interface {
	Seen(context.Context, string) (bool, error)
}

func (ls ledgers) Seen(ctx context.Context, id string) (bool, error) {
	for _, l := range ls {
		if seen, err := l.Seen(ctx, id); err != nil || seen {
			return seen, err
		}
	}
	return false, nil
}
