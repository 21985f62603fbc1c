package adapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// LedgerBucket is the JetStream KV bucket of published calls (key
// <pbx>.<linkedid>), written when a status is acknowledged; the backfill
// reads it so a call is never published twice, however long the gap.
const LedgerBucket = "CALLSTATUS_CALLS"

// kvLedger answers backfill.Ledger from the bucket. Until the bucket
// exists it knows no call (logged once): JetStream's dedupe window then
// still drops a status published twice within it.
type kvLedger struct {
	js  jetstream.JetStream
	pbx string
	log *slog.Logger

	mu     sync.Mutex
	kv     jetstream.KeyValue
	warned bool
}

func newKVLedger(nc *nats.Conn, pbx string, log *slog.Logger) (*kvLedger, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return &kvLedger{js: js, pbx: pbx, log: orDiscard(log)}, nil
}

// Seen implements backfill.Ledger.
func (l *kvLedger) Seen(ctx context.Context, callID string) (bool, error) {
	l.mu.Lock()
	kv := l.kv
	l.mu.Unlock()
	if kv == nil {
		var err error
		kv, err = l.js.KeyValue(ctx, LedgerBucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			l.mu.Lock()
			if !l.warned {
				l.warned = true
				l.log.Warn("no ledger bucket yet: backfilled calls are checked against JetStream's dedupe window only", "bucket", LedgerBucket)
			}
			l.mu.Unlock()
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("ledger %s: %w", LedgerBucket, err)
		}
		l.mu.Lock()
		l.kv = kv
		l.mu.Unlock()
	}
	key := l.pbx + "." + strings.TrimPrefix(callID, l.pbx+":")
	_, err := kv.Get(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	}
	return false, fmt.Errorf("ledger %s: get %s: %w", LedgerBucket, key, err)
}

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
