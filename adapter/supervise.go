package adapter

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/ops"
)

// Source is one connection to the PBX that yields mapping events (the AMI
// and ARI clients). Connect dials and logs in, Next blocks for the next
// event and returns an error once the connection is unusable, Close frees
// it. The supervisor calls them from one goroutine and reconnects; a source
// never retries by itself.
type Source interface {
	Connect(ctx context.Context) error
	Next(ctx context.Context) (mapping.Event, error)
	Close() error
}

// Retry is the reconnect schedule: exponential from Initial up to Max,
// restarted after a connection stayed up for StableAfter (so a source that
// connects and drops at once does not hammer the PBX).
type Retry struct {
	Initial     time.Duration
	Max         time.Duration
	StableAfter time.Duration
}

// DefaultRetry starts at half a second and caps at 30 s.
func DefaultRetry() Retry {
	return Retry{Initial: 500 * time.Millisecond, Max: 30 * time.Second, StableAfter: 10 * time.Second}
}

func (r Retry) backoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = r.Initial
	b.MaxInterval = r.Max
	b.MaxElapsedTime = 0 // retry forever: the PBX admin may fix it
	b.Reset()
	return b
}

// AuthError is implemented by source errors that mean "the PBX refused the
// credentials", so the supervisor can say which account to fix.
type AuthError interface {
	error
	Account() string
}

// Supervise runs src until ctx ends: Connect, Next until an error, Close,
// back off, again. Events go to out; on every change of state it also sends
// a SourceDown or SourceUp event named name, so the engine can mark calls
// that may have missed events. It returns nil when ctx ends.
func Supervise(ctx context.Context, name string, src Source, out chan<- mapping.Event, log *slog.Logger) error {
	s := supervisor{name: name, src: src, out: out, log: orDiscard(log), retry: DefaultRetry(), stats: new(Stats)}
	return s.run(ctx)
}

type supervisor struct {
	name  string
	src   Source
	out   chan<- mapping.Event
	log   *slog.Logger
	retry Retry
	stats *Stats
	now   func() time.Time

	// heard is when the source last proved it was delivering: its
	// connect, then each event it sent. A drop is noticed later than it
	// happens (a dead peer, a loaded host), and a call can start and end
	// in between; the gap the backfill fills begins here, not at the
	// moment the read failed.
	heard time.Time

	metrics *ops.SourceMetrics // nil records nothing
	health  *ops.Health
}

type srcState int

const (
	stateUnknown srcState = iota
	stateUp
	stateDown
)

func (s *supervisor) run(ctx context.Context) error {
	if s.now == nil {
		s.now = time.Now
	}
	log := s.log.With("source", s.name)
	b := s.retry.backoff()
	state := stateUnknown
	lastErr := ""
	var downSince time.Time
	failures := 0

	down := func(err error, what string) {
		failures++
		msg := err.Error()
		if state != stateDown {
			downSince = s.now()
			if state == stateUp && !s.heard.IsZero() && s.heard.Before(downSince) {
				downSince = s.heard
			}
			state = stateDown
			s.stats.SourceDowns.Add(1)
			s.metrics.Connected(false)
			s.emit(ctx, log, mapping.Event{Kind: mapping.SourceDown, Source: sourceOf(s.name), Name: s.name, Time: downSince, Value: msg})
		}
		if msg == lastErr {
			log.Debug("source still down", "during", what, "err", err, "attempt", failures)
			return
		}
		lastErr = msg
		s.health.SetSource(s.name, false, err)
		var auth AuthError
		if errors.As(err, &auth) {
			log.Error("source refused our credentials; retrying", "account", auth.Account(), "err", err)
			return
		}
		log.Warn("source down; retrying", "during", what, "err", err)
	}

	for {
		if err := s.src.Connect(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			down(err, "connect")
		} else {
			up := s.now()
			s.heard = up
			if state != stateUp {
				if state == stateDown {
					log.Info("source up", "down_for", up.Sub(downSince).Round(time.Millisecond), "attempts", failures)
				} else {
					log.Info("source up")
				}
				state = stateUp
				s.stats.SourceUps.Add(1)
				s.metrics.Connected(true)
				s.health.SetSource(s.name, true, nil)
				s.emit(ctx, log, mapping.Event{Kind: mapping.SourceUp, Source: sourceOf(s.name), Name: s.name, Time: up})
			}
			lastErr, failures = "", 0
			err := s.read(ctx, log)
			if cerr := s.src.Close(); cerr != nil {
				log.Debug("close source", "err", cerr)
			}
			if ctx.Err() != nil {
				return nil
			}
			if s.now().Sub(up) >= s.retry.StableAfter {
				b.Reset()
			}
			down(err, "read")
		}
		wait := b.NextBackOff()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// read forwards events until Next fails.
func (s *supervisor) read(ctx context.Context, log *slog.Logger) error {
	for {
		ev, err := s.src.Next(ctx)
		if err != nil {
			return err
		}
		if at := s.emit(ctx, log, ev); at.After(s.heard) {
			s.heard = at
		}
	}
}

// emit hands ev on. The consumer is the queue pump, which always reads, so
// this returns at once; only a shutdown with a stalled consumer drops, and
// that is counted and logged. It returns the event's time.
func (s *supervisor) emit(ctx context.Context, log *slog.Logger, ev mapping.Event) time.Time {
	at, now := ev.Time, s.now()
	if ev.Time.IsZero() {
		// AMI without timestampevents=yes sends no time: the moment we
		// read it is the best we have, and the engine's TTLs need one.
		ev.Time = now
	}
	s.metrics.Received(ev, at, now)
	select {
	case s.out <- ev:
		return ev.Time
	default:
	}
	select {
	case s.out <- ev:
	case <-ctx.Done():
		s.stats.EventsDropped.Add(1)
		log.Error("event dropped at shutdown", "kind", ev.Kind.String(), "uniqueid", ev.Chan.UniqueID)
	}
	return ev.Time
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// sourceOf names the engine's source for a supervisor name: the engine
// tracks which sources are up by Event.Source.
func sourceOf(name string) mapping.Source {
	switch name {
	case "ami":
		return mapping.SourceAMI
	case "ari":
		return mapping.SourceARI
	}
	return mapping.SourceNone
}
