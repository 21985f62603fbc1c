// Package publish puts final call statuses on NATS: the publisher that
// drains the outbox, the client connection and its credentials, and the
// embedded NATS server the daemon runs when no external one is set.
package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/outbox"
)

// ErrPermanent marks a publish error that no retry can fix (a subject the
// server does not let us publish on, a status over max_payload, a missing
// stream the daemon may not create).
// errors.Is(err, ErrPermanent) tells them; the message is the cause's.
var ErrPermanent = errors.New("permanent publish error")

type permanentError struct{ err error }

func (e permanentError) Error() string        { return e.err.Error() }
func (e permanentError) Unwrap() error        { return e.err }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

// permanent marks err as one no retry can fix.
func permanent(err error) error { return permanentError{err} }

// Publisher puts call statuses on NATS: subject
// <prefix>.<pbx>.<category>.<status>, the CallStatus as JSON body and the
// call id as Nats-Msg-Id, so JetStream drops a status published twice
// within the stream's duplicate window and core subscribers can dedupe.
type Publisher struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	cfg   NATSConfig
	pbx   string
	log   *slog.Logger
	stats *Stats

	// OnPublished, when set, is told of every acknowledged status and
	// how long its successful attempt took (the daemon's metrics).
	OnPublished func(cs mapping.CallStatus, took time.Duration, now time.Time)
	// UserLegs, with nats.user_legs, derives the per-user messages
	// published before each status (mapping.Config.UserLegs); nil
	// publishes none.
	UserLegs func(mapping.CallStatus) []mapping.UserLeg
	// The ledger bucket (nats.ledger), opened by Run and read by the
	// backfill through Seen from another goroutine.
	ledger      atomic.Pointer[Ledger]
	ledgerOff   atomic.Bool // none: not JetStream, disabled, or refused by the server
	ledgerTried time.Time   // the last attempt to open it (Run's goroutine only)

	streamReady bool
}

// NewPublisher publishes on nc. pbx names the PBX in the subject when a
// status carries none.
func New(nc *nats.Conn, cfg NATSConfig, pbx string, stats *Stats, log *slog.Logger) (*Publisher, error) {
	if stats == nil {
		stats = new(Stats)
	}
	p := &Publisher{nc: nc, cfg: cfg, pbx: pbx, log: orDiscard(log).With("component", "publisher"), stats: stats}
	if cfg.JetStream {
		js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout)) // the user legs (userlegs.go)
		if err != nil {
			return nil, fmt.Errorf("nats: jetstream context: %w", err)
		}
		p.js = js
	}
	return p, nil
}

// Subject is where cs goes.
func (p *Publisher) Subject(cs mapping.CallStatus) string {
	pbx := cs.PBX
	if pbx == "" {
		pbx = p.pbx
	}
	return strings.Join([]string{p.cfg.SubjectPrefix, token(pbx), token(string(cs.Category)), token(string(cs.Status))}, ".")
}

// token makes s safe as one subject token.
func token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, s)
}

// EnsureStream makes sure the stream exists: with nats.stream.create it
// creates it when missing and updates the settings the daemon owns
// (subjects, duplicate window, max age, replicas) when they differ;
// without, it only checks that an admin made it.
func (p *Publisher) EnsureStream(ctx context.Context) error {
	if p.js == nil || p.streamReady {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.PublishTimeout)
	defer cancel()
	sc := p.cfg.Stream
	subject := p.cfg.SubjectPrefix + ".>"
	st, err := p.js.Stream(ctx, sc.Name)
	switch {
	case err == nil:
		if sc.Create {
			p.updateStream(ctx, st.CachedInfo().Config)
		}
	case errors.Is(err, jetstream.ErrStreamNotFound) && sc.Create:
		_, err = p.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        sc.Name,
			Description: "callstatus: one final status per call",
			Subjects:    []string{subject},
			Storage:     jetstream.FileStorage,
			Duplicates:  sc.Duplicates,
			MaxAge:      sc.MaxAge,
			Replicas:    sc.Replicas,
		})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("nats: create stream %q on %s: %w", sc.Name, subject, err)
		}
		p.log.Info("created stream", "stream", sc.Name, "subjects", subject, "duplicates", sc.Duplicates)
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return permanent(fmt.Errorf("nats: stream %q not found and nats.stream.create is false", sc.Name))
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return fmt.Errorf("nats: JetStream is not enabled on the server (set nats.jetstream: false for core NATS): %w", err)
	default:
		return fmt.Errorf("nats: look up stream %q: %w", sc.Name, err)
	}
	p.streamReady = true
	return nil
}

// updateStream brings an existing stream's settings that the daemon owns
// in line with the config, keeping anything else an admin set (more
// subjects, limits). A refused update is logged, not fatal: the stream
// works as it is.
func (p *Publisher) updateStream(ctx context.Context, cur jetstream.StreamConfig) {
	sc := p.cfg.Stream
	subject := p.cfg.SubjectPrefix + ".>"
	want := cur
	if !slices.Contains(want.Subjects, subject) {
		want.Subjects = append(slices.Clone(want.Subjects), subject)
	}
	want.Duplicates, want.MaxAge, want.Replicas = sc.Duplicates, sc.MaxAge, sc.Replicas
	if slices.Equal(want.Subjects, cur.Subjects) && want.Duplicates == cur.Duplicates && want.MaxAge == cur.MaxAge && want.Replicas == cur.Replicas {
		return
	}
	if _, err := p.js.UpdateStream(ctx, want); err != nil {
		p.log.Warn("stream settings differ from the config and could not be updated", "stream", sc.Name, "err", err)
		return
	}
	p.log.Info("updated stream", "stream", sc.Name, "subjects", want.Subjects, "duplicates", want.Duplicates,
		"max_age", want.MaxAge, "replicas", want.Replicas)
}

// Publish makes one attempt: JetStream publish and wait for the ack, or
// core publish and flush. An error means "try again".
func (p *Publisher) Publish(ctx context.Context, cs mapping.CallStatus) error {
	body, err := json.Marshal(cs)
	if err != nil {
		return fmt.Errorf("publish %s: encode: %w", cs.CallID, err)
	}
	msg := nats.NewMsg(p.Subject(cs))
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, cs.CallID)
	// A subject the server refuses is told asynchronously (-ERR), not
	// as the publish's result: remember the connection's last error to
	// tell a new refusal from an old one.
	before := p.nc.LastError()
	if err := p.publishUserLegs(ctx, cs, before); err != nil {
		return err
	}
	if p.js == nil {
		if err := p.nc.PublishMsg(msg); err != nil {
			return classify(fmt.Errorf("publish %s on %s: %w", cs.CallID, msg.Subject, err))
		}
		// The server answers the PING after it handled the PUB, so a
		// refusal of this publish has arrived when the flush returns.
		if err := p.nc.FlushTimeout(p.cfg.PublishTimeout); err != nil {
			return fmt.Errorf("publish %s on %s: flush: %w", cs.CallID, msg.Subject, err)
		}
		if err := p.refused(before, msg.Subject); err != nil {
			return permanent(fmt.Errorf("publish %s on %s: %w", cs.CallID, msg.Subject, err))
		}
		return nil
	}
	if err := p.EnsureStream(ctx); err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, p.cfg.PublishTimeout)
	defer cancel()
	ack, err := p.js.PublishMsg(actx, msg)
	if err != nil {
		if rerr := p.refused(before, msg.Subject); rerr != nil {
			return permanent(fmt.Errorf("publish %s on %s: %w", cs.CallID, msg.Subject, rerr))
		}
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			p.streamReady = false // deleted behind our back: look again
		}
		return classify(fmt.Errorf("publish %s on %s: %w", cs.CallID, msg.Subject, err))
	}
	if ack.Duplicate {
		p.log.Debug("duplicate status ignored by stream", "call_id", cs.CallID, "seq", ack.Sequence)
	}
	return nil
}

// Run publishes what the outbox holds, oldest first, each until it is
// acknowledged, and returns once the outbox is closed and empty, or when
// ctx ends (the shutdown deadline): what is left then is the caller's to
// count.
func (p *Publisher) Run(ctx context.Context, ob *outbox.Outbox) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = p.cfg.RetryMax
	b.MaxElapsedTime = 0
	b.Reset()
	if p.js == nil || !p.cfg.Ledger.Enabled {
		p.ledgerOff.Store(true)
	}
	p.setup(ctx, true)
	failing := ""
	failedSince := time.Time{}
	refusals := 0 // permanent failures of the head status in a row
	ledgerErr := ""
	for {
		cs, ok, closed := ob.Peek()
		if !ok {
			if closed {
				return nil
			}
			// Idle: keep trying to make the stream (and the ledger)
			// until they exist, so they are there before the first
			// call even when NATS came up after the daemon.
			var retry <-chan time.Time
			var t *time.Timer
			if p.setupPending() {
				t = time.NewTimer(min(2*time.Second, p.cfg.RetryMax))
				retry = t.C
			}
			select {
			case <-ob.Changed():
			case <-retry:
				p.setup(ctx, false)
			case <-ctx.Done():
			}
			if t != nil {
				t.Stop()
			}
			if ctx.Err() != nil {
				return nil
			}
			continue
		}
		t0 := time.Now()
		err := p.Publish(ctx, cs)
		if err == nil {
			refusals = 0
			p.record(ctx, cs, &ledgerErr)
			ob.Pop()
			p.stats.Published.Add(1)
			if p.OnPublished != nil {
				p.OnPublished(cs, time.Since(t0), time.Now())
			}
			b.Reset()
			if failing != "" {
				p.log.Info("publishing again", "failed_for", time.Since(failedSince).Round(time.Millisecond))
				failing = ""
			}
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrPermanent) {
			if refusals++; refusals >= max(p.cfg.ParkAfter, 1) {
				p.park(ob, cs, err, refusals)
				refusals = 0
				b.Reset()
				continue
			}
		} else {
			refusals = 0
		}
		p.stats.Retries.Add(1)
		if failing == "" {
			failedSince = time.Now()
		}
		if msg := errClass(err); msg != failing {
			p.log.Warn("publish failed; retrying", "call_id", cs.CallID, "queued", ob.Len(), "err", err)
			failing = msg
		} else {
			p.log.Debug("publish failed; retrying", "call_id", cs.CallID, "err", err)
		}
		t := time.NewTimer(b.NextBackOff())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// setup makes the stream and opens the ledger bucket while NATS is
// connected; what fails is tried again (idle, or at the next publish).
// The stream exists before the first call, so a consumer can bind to it
// at once.
func (p *Publisher) setup(ctx context.Context, first bool) {
	if !p.nc.IsConnected() {
		return
	}
	if err := p.EnsureStream(ctx); err != nil && ctx.Err() == nil && (first || !errors.Is(err, ErrPermanent)) {
		p.log.Warn("stream not ready; retrying", "stream", p.cfg.Stream.Name, "err", err)
	}
	if !p.ledgerOff.Load() && p.ledger.Load() == nil && (first || time.Since(p.ledgerTried) > 10*time.Second) {
		p.startLedger(ctx)
	}
}

// setupPending says whether the stream or the ledger is still to be made.
func (p *Publisher) setupPending() bool {
	if p.js == nil {
		return false
	}
	return !p.streamReady || (!p.ledgerOff.Load() && p.ledger.Load() == nil)
}

// startLedger opens the ledger bucket when the config asks for one and
// none was set. Without it statuses still go out; only "status by call
// id" and the backfill's long-gap dedupe go without.
func (p *Publisher) startLedger(ctx context.Context) {
	if p.ledger.Load() != nil || p.ledgerOff.Load() {
		return
	}
	first := p.ledgerTried.IsZero()
	p.ledgerTried = time.Now()
	lctx, cancel := context.WithTimeout(ctx, p.cfg.PublishTimeout)
	defer cancel()
	l, err := OpenLedger(lctx, p.js, p.cfg.Ledger, p.cfg.Stream.Replicas, p.cfg.Stream.Create, p.log)
	if err != nil {
		if first {
			p.log.Warn("ledger unavailable; retrying while statuses are published without it", "bucket", p.cfg.Ledger.Bucket, "err", err)
		}
		return
	}
	p.ledger.Store(l)
	p.log.Info("ledger ready", "bucket", p.cfg.Ledger.Bucket, "ttl", p.cfg.Ledger.TTL)
}

// ErrLedgerPending: the ledger bucket is not open yet (NATS unreachable
// so far); ask again later.
var ErrLedgerPending = errors.New("ledger bucket not open yet")

// Seen says whether callID was published, from the ledger bucket: the
// backfill's Ledger. It fails with ErrLedgerPending until the bucket is
// open, and answers false when there is none (core NATS, disabled, or
// refused by the server).
func (p *Publisher) Seen(ctx context.Context, callID string) (bool, error) {
	if l := p.ledger.Load(); l != nil {
		return l.Seen(ctx, callID)
	}
	if p.ledgerOff.Load() {
		return false, nil
	}
	return false, fmt.Errorf("ledger %q: %w", p.cfg.Ledger.Bucket, ErrLedgerPending)
}

// LedgerBucket is the open ledger, nil when none (yet).
func (p *Publisher) LedgerBucket() *Ledger { return p.ledger.Load() }

// record writes cs in the ledger after its ack. A failure is logged
// (once per kind of error) and counted, never retried: the status itself
// is out. A bucket the server does not let us write is given up at once,
// so it cannot slow every status down by a timeout.
func (p *Publisher) record(ctx context.Context, cs mapping.CallStatus, lastErr *string) {
	l := p.ledger.Load()
	if l == nil {
		if !p.ledgerOff.Load() && time.Since(p.ledgerTried) > 10*time.Second {
			p.startLedger(ctx)
		}
		return
	}
	before := p.nc.LastError()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.PublishTimeout)
	defer cancel()
	err := l.Put(ctx, cs)
	if err == nil {
		*lastErr = ""
		return
	}
	p.stats.LedgerErrors.Add(1)
	if rerr := p.refused(before, "$KV."+l.bucket+"."+LedgerKey(cs.CallID)); rerr != nil {
		p.log.Error("ledger disabled: the server refuses writes to its bucket; statuses are published without it",
			"bucket", l.bucket, "err", rerr)
		p.ledger.Store(nil)
		p.ledgerOff.Store(true)
		return
	}
	if msg := errClass(err); msg != *lastErr {
		p.log.Warn("ledger write failed; the status is published, a backfill may publish it again", "call_id", cs.CallID, "err", err)
		*lastErr = msg
	}
}

// refused returns the server's permission refusal of a publish on
// subject when one arrived since before was the connection's last error.
func (p *Publisher) refused(before error, subject string) error {
	err := p.nc.LastError()
	if err == nil || err == before || !errors.Is(err, nats.ErrPermissionViolation) {
		return nil
	}
	if !strings.Contains(err.Error(), `Publish to "`+subject+`"`) {
		return nil
	}
	return err
}

// classify marks the errors no retry can fix.
func classify(err error) error {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrMaxPayload):
		return permanent(err)
	case errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum:
		return permanent(err)
	}
	return err
}

// park sets the head status aside for good after attempts permanent
// failures, so the statuses after it go out.
func (p *Publisher) park(ob *outbox.Outbox, cs mapping.CallStatus, err error, attempts int) {
	rec := outbox.Parked{ParkedAt: time.Now().UTC(), Reason: err.Error(), Attempts: attempts, Subject: p.Subject(cs), Status: cs}
	perr := ob.Park(rec)
	p.log.Error("status parked: NATS refuses it for good; publishing the next (callstatusd outbox list|requeue)",
		"call_id", cs.CallID, "subject", rec.Subject, "attempts", attempts, "err", err, "parked", ob.Parked())
	if perr != nil {
		p.log.Error("parked status kept in memory only: the dead letter could not be written", "call_id", cs.CallID, "err", perr)
	}
}

// errClass is the error without the call id, so a failure that only moves
// on to the next call is not logged again.
func errClass(err error) string {
	s := err.Error()
	if strings.HasPrefix(s, "publish ") {
		if i := strings.Index(s, ": "); i >= 0 {
			return s[i+2:]
		}
	}
	return s
}
