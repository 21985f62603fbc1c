package adapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

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
