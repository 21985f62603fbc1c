package backfill

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callstatus/callstatus/cel"
	"github.com/callstatus/callstatus/mapping"
)

// Shadow reconciliation: some time after each live status, the same call
// is derived from CEL and queue_log and the two are compared (category,
// status, reason). Agreement and disagreement are counted per rule; each
// disagreement is logged with both evidences. Nothing is ever corrected.
type Shadow struct {
	B     *Backfiller
	Delay time.Duration
	// Count hears every comparison: result is agree, disagree or missing
	// (CEL has no such call, or it is not finished there).
	Count func(rule, result string)
	Log   *slog.Logger

	once    sync.Once
	jobs    chan shadowJob
	dropped atomic.Uint64
}

type shadowJob struct {
	live  mapping.CallStatus
	due   time.Time
	tries int
}

// shadowTries: a call CEL does not have finished yet (its last rows come
// after the live status, later still on a loaded PBX) is looked at again,
// a Delay apart, before it counts as missing.
const shadowTries = 4

// ShadowQueue bounds the statuses waiting for their check; past it a check
// is dropped and counted (Dropped), never waited for.
const ShadowQueue = 4096

func (s *Shadow) init() {
	s.once.Do(func() { s.jobs = make(chan shadowJob, ShadowQueue) })
}

// Check schedules the comparison of a live status; it never blocks.
func (s *Shadow) Check(cs mapping.CallStatus, now time.Time) {
	s.init()
	select {
	case s.jobs <- shadowJob{live: cs, due: now.Add(s.Delay)}:
	default:
		s.dropped.Add(1)
	}
}

// Dropped counts checks skipped because the queue was full.
func (s *Shadow) Dropped() uint64 { return s.dropped.Load() }

// Run compares until ctx ends.
func (s *Shadow) Run(ctx context.Context) {
	s.init()
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		var j shadowJob
		select {
		case <-ctx.Done():
			return
		case j = <-s.jobs:
		}
		if wait := time.Until(j.due); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		got, why, err := s.derive(ctx, j.live)
		rule := j.live.Evidence.Rule
		if got == nil && err == nil && j.tries+1 < shadowTries {
			j.tries++
			j.due = time.Now().Add(s.Delay)
			select {
			case s.jobs <- j:
				continue
			default: // the queue is full: count it now
			}
		}
		switch {
		case err != nil:
			log.Warn("shadow: derive from CEL failed", "call_id", j.live.CallID, "err", err)
			s.count(rule, "missing")
		case got == nil:
			log.Info("shadow: CEL has no such finished call", "call_id", j.live.CallID, "live_rule", rule,
				"tries", j.tries+1, "live_uniqueids", j.live.UniqueIDs, "cel", why)
			s.count(rule, "missing")
		case got.Category == j.live.Category && got.Status == j.live.Status && got.Reason == j.live.Reason:
			s.count(rule, "agree")
		default:
			s.count(rule, "disagree")
			log.Warn("shadow: CEL disagrees with the live status", "call_id", j.live.CallID,
				"live", string(j.live.Category)+"/"+string(j.live.Status)+" "+j.live.Reason, "live_rule", rule,
				"live_evidence", j.live.Evidence.Events,
				"cel", string(got.Category)+"/"+string(got.Status)+" "+got.Reason, "cel_rule", got.Evidence.Rule,
				"cel_evidence", got.Evidence.Events)
		}
	}
}

func (s *Shadow) count(rule, result string) {
	if s.Count != nil {
		s.Count(rule, result)
	}
}

// derive is the call as CEL tells it: the rows of its linkedid (and of
// their channels), through an engine of its own. When CEL has no such
// finished call, why says what it had instead.
func (s *Shadow) derive(ctx context.Context, live mapping.CallStatus) (*mapping.CallStatus, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rows, _, err := s.B.Store.Calls(ctx, []string{live.LinkedID})
	if err != nil || len(rows) == 0 {
		return nil, "no rows", err
	}
	var lines []cel.QueueLine
	if s.B.QueueLog != "" {
		if lines, err = queueLines(s.B.QueueLog, rows); err != nil {
			return nil, "", err
		}
	}
	res := cel.Translate(rows, lines, cel.Options{QueueLog: s.B.QueueLog != ""})
	m := mapping.New(s.B.Rules)
	var others []string
	for _, e := range res.Events {
		for _, cs := range m.Apply(e) {
			if sameCall(cs, live) {
				res.Relabel(&cs)
				return &cs, "", nil
			}
			others = append(others, cs.CallID+" "+string(cs.Status)+" "+strings.Join(cs.UniqueIDs, ","))
		}
	}
	return nil, fmt.Sprintf("%d rows, %d events, %d calls still open, finished: %v", len(rows), len(res.Events), m.Active(), others), nil
}

// sameCall: the same call id, or (two engines may name a merged call by
// different linkedids: a pickup, a transfer, channels created within one
// tick) a channel in common.
func sameCall(a, b mapping.CallStatus) bool {
	if a.CallID == b.CallID {
		return true
	}
	for _, id := range a.UniqueIDs {
		if slices.Contains(b.UniqueIDs, id) {
			return true
		}
	}
	return false
}
