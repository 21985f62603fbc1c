package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/mapping"
)

// LedgerConfig is the JetStream KV bucket of published calls: key
// <pbx>.<linkedid>, value the final status JSON, written once NATS has
// acknowledged the status. It answers "what happened to call X" (nats kv
// get CALLSTATUS_CALLS pbx1.1764064800.12) and tells a backfill which
// calls went out already, long after the stream's duplicate window.
type LedgerConfig struct {
	// Enabled writes the bucket (JetStream only).
	Enabled bool   `mapstructure:"enabled" yaml:"enabled"`
	Bucket  string `mapstructure:"bucket" yaml:"bucket"`
	// TTL is how long a call stays in the bucket; keep it at least the
	// backfill horizon (a gap that long must still find the calls
	// published before it).
	TTL time.Duration `mapstructure:"ttl" yaml:"ttl"`
}

// DefaultLedgerConfig: CALLSTATUS_CALLS, 7 days.
func DefaultLedgerConfig() LedgerConfig {
	return LedgerConfig{Enabled: true, Bucket: "CALLSTATUS_CALLS", TTL: 7 * 24 * time.Hour}
}

// Validate names the key that cannot work.
func (c LedgerConfig) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if !validBucket(c.Bucket) {
		errs = append(errs, fmt.Errorf("nats.ledger.bucket must be letters, digits, '-' and '_', got %q", c.Bucket))
	}
	if c.TTL < time.Minute {
		errs = append(errs, fmt.Errorf("nats.ledger.ttl must be at least 1m, got %s", c.TTL))
	}
	return errors.Join(errs...)
}

func validBucket(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Ledger is the bucket of published calls. Its methods are safe for
// concurrent use.
type Ledger struct {
	kv     jetstream.KeyValue
	bucket string
	log    *slog.Logger
}

// OpenLedger binds the bucket, creating it (or updating its TTL) when
// create is set.
func OpenLedger(ctx context.Context, js jetstream.JetStream, c LedgerConfig, replicas int, create bool, log *slog.Logger) (*Ledger, error) {
	var kv jetstream.KeyValue
	var err error
	if create {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      c.Bucket,
			Description: "callstatus: the final status of each published call, by <pbx>.<linkedid>",
			TTL:         c.TTL,
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    max(replicas, 1),
		})
	} else {
		kv, err = js.KeyValue(ctx, c.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("nats: ledger bucket %q: %w", c.Bucket, err)
	}
	return &Ledger{kv: kv, bucket: c.Bucket, log: orDiscard(log).With("component", "ledger")}, nil
}

// BindLedger binds an existing bucket (for readers such as callstatusd get).
func BindLedger(ctx context.Context, js jetstream.JetStream, bucket string) (*Ledger, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("nats: ledger bucket %q: %w", bucket, err)
	}
	return &Ledger{kv: kv, bucket: bucket, log: orDiscard(nil)}, nil
}

// LedgerKey is the bucket key of a call id (<pbx>:<linkedid>):
// <pbx>.<linkedid>, with characters a key may not hold replaced by '_'.
func LedgerKey(callID string) string {
	pbx, linked, ok := strings.Cut(callID, ":")
	if !ok {
		linked, pbx = pbx, "_"
	}
	clean := func(s string) string {
		s = strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '=' || r == '.' || r == '/' {
				return r
			}
			return '_'
		}, s)
		s = strings.Trim(s, ".")
		if s == "" {
			return "_"
		}
		return s
	}
	return clean(pbx) + "." + clean(linked)
}

// Put records cs as published.
func (l *Ledger) Put(ctx context.Context, cs mapping.CallStatus) error {
	body, err := json.Marshal(cs)
	if err != nil {
		return fmt.Errorf("ledger: encode %s: %w", cs.CallID, err)
	}
	if _, err := l.kv.Put(ctx, LedgerKey(cs.CallID), body); err != nil {
		return fmt.Errorf("ledger: put %s in %s: %w", cs.CallID, l.bucket, err)
	}
	// A call merged into this one (a transfer, a pickup) is found under
	// its own linkedid too: an alias naming this call.
	for _, linked := range cs.MergedLinkedIDs {
		alias, _ := json.Marshal(ledgerAlias{AliasOf: cs.CallID})
		id := cs.PBX + ":" + linked
		if _, err := l.kv.Put(ctx, LedgerKey(id), alias); err != nil {
			return fmt.Errorf("ledger: put alias %s of %s in %s: %w", id, cs.CallID, l.bucket, err)
		}
	}
	return nil
}

// ledgerAlias is the value under a merged call's key.
type ledgerAlias struct {
	AliasOf string `json:"alias_of"`
}

// Seen says whether callID was published (within the bucket's TTL).
func (l *Ledger) Seen(ctx context.Context, callID string) (bool, error) {
	_, ok, err := l.Get(ctx, callID)
	return ok, err
}

// Get returns the published status of callID; ok is false when the
// bucket has none.
func (l *Ledger) Get(ctx context.Context, callID string) (cs mapping.CallStatus, ok bool, err error) {
	raw, err := l.Raw(ctx, callID)
	if raw == nil || err != nil {
		return cs, false, err
	}
	if err := json.Unmarshal(raw, &cs); err != nil {
		return cs, false, fmt.Errorf("ledger: decode %s: %w", callID, err)
	}
	return cs, true, nil
}

// Raw returns the stored JSON of callID (nil when none), following the
// alias of a call merged into another to that call's status.
func (l *Ledger) Raw(ctx context.Context, callID string) ([]byte, error) {
	for hop := 0; hop < 2; hop++ {
		e, err := l.kv.Get(ctx, LedgerKey(callID))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("ledger: get %s from %s: %w", callID, l.bucket, err)
		}
		var a ledgerAlias
		if json.Unmarshal(e.Value(), &a) != nil || a.AliasOf == "" {
			return e.Value(), nil
		}
		callID = a.AliasOf
	}
	return nil, fmt.Errorf("ledger: %s: aliases lead nowhere", callID)
}
