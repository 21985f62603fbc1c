package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/callstatus/callstatus/mapping"
)

// StateFile is the file in data_dir that keeps the time of the last event
// the daemon processed, so the next start knows where its gap began.
const StateFile = "backfill.json"

type state struct {
	LastEvent time.Time `json:"last_event"`
}

// LoadState reads the last processed event time from dir; ok is false when
// there is none yet (first start).
func LoadState(dir string) (last time.Time, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("backfill: state: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return time.Time{}, false, fmt.Errorf("backfill: state %s: %w", filepath.Join(dir, StateFile), err)
	}
	return s.LastEvent, !s.LastEvent.IsZero(), nil
}

// SaveState writes it atomically: a temporary file, fsync, rename, fsync of
// the directory.
func SaveState(dir string, last time.Time) error {
	b, _ := json.Marshal(state{LastEvent: last.UTC()})
	tmp := filepath.Join(dir, StateFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("backfill: state: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, StateFile))
	}
	if err != nil {
		return fmt.Errorf("backfill: state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Gap is a time nobody was listening to some source.
type Gap struct {
	From, To time.Time
	// Why: "restart" (from the last event before the daemon stopped to
	// its first after it started), "first_start" (the horizon), or
	// "<source>_down" (a source's down-to-up interval).
	Why string
}

// Tracker turns the engine's event stream into gaps. Observe is called by
// the engine goroutine for every event; Gaps is read by the runner.
type Tracker struct {
	last    atomic.Int64 // Unix ns of the latest event time
	started bool
	start   Gap // the gap of this start, To unknown until the first event
	downAt  map[mapping.Source]time.Time
	now     func() time.Time

	mu      sync.Mutex
	pending []Gap
	wake    chan struct{}
}

// NewTracker starts tracking: last is the previous run's last event (ok
// false: first start, the gap is the horizon before now).
func NewTracker(last time.Time, ok bool, horizon time.Duration, now func() time.Time) *Tracker {
	if now == nil {
		now = time.Now
	}
	t := &Tracker{downAt: map[mapping.Source]time.Time{}, now: now, wake: make(chan struct{}, 1)}
	if ok {
		t.start = Gap{From: last, Why: "restart"}
	} else {
		t.start = Gap{From: now().Add(-horizon), Why: "first_start"}
	}
	return t
}

// Observe notes one event (engine goroutine only).
func (t *Tracker) Observe(e *mapping.Event) {
	if e.Time.IsZero() {
		return
	}
	if !t.started {
		t.started = true
		g := t.start
		g.To = e.Time
		if g.To.After(g.From) {
			t.add(g)
		}
	}
	if ns := e.Time.UnixNano(); ns > t.last.Load() {
		t.last.Store(ns)
	}
	switch e.Kind {
	case mapping.SourceDown:
		if _, ok := t.downAt[e.Source]; !ok {
			t.downAt[e.Source] = e.Time
		}
	case mapping.SourceUp:
		if from, ok := t.downAt[e.Source]; ok {
			delete(t.downAt, e.Source)
			if e.Time.After(from) {
				t.add(Gap{From: from, To: e.Time, Why: e.Source.String() + "_down"})
			}
		}
	}
}

// Last is the latest event time seen (zero before any).
func (t *Tracker) Last() time.Time {
	if ns := t.last.Load(); ns != 0 {
		return time.Unix(0, ns).UTC()
	}
	return time.Time{}
}

func (t *Tracker) add(g Gap) {
	t.mu.Lock()
	t.pending = append(t.pending, g)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// next waits for the next gap.
func (t *Tracker) next(ctx context.Context) (Gap, bool) {
	for {
		t.mu.Lock()
		if len(t.pending) > 0 {
			g := t.pending[0]
			t.pending = t.pending[1:]
			t.mu.Unlock()
			return g, true
		}
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return Gap{}, false
		case <-t.wake:
		}
	}
}

// Runner backfills each gap the Tracker reports, retrying with backoff
// while the database is down or slow, and hands the calls to Emit.
type Runner struct {
	B        *Backfiller
	Tracker  *Tracker
	Emit     func(mapping.CallStatus)
	Settle   time.Duration
	Horizon  time.Duration
	RetryMax time.Duration
	Timeout  time.Duration
	// DataDir receives the state file (every SaveEvery and at the end).
	DataDir   string
	SaveEvery time.Duration
	Log       *slog.Logger

	mu      sync.Mutex
	problem string
	stats   RunStats
}

// RunStats counts what the runner did.
type RunStats struct {
	Gaps, Windows, Failures, Published, InLedger, Open int
	LongGaps                                           int // gaps longer than the horizon (reported, done whole)
	Last                                               Gap
	LastError                                          string
}

// Problem is the runner's line for /readyz: a gap not backfilled yet
// because the database fails; "" when all is well.
func (r *Runner) Problem() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.problem
}

// Stats returns a copy of the counters.
func (r *Runner) Stats() RunStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Run serves gaps until ctx ends; it saves the state file on the way out.
func (r *Runner) Run(ctx context.Context) error {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	every := r.SaveEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	save := func() {
		if r.DataDir == "" {
			return
		}
		if last := r.Tracker.Last(); !last.IsZero() {
			if err := SaveState(r.DataDir, last); err != nil {
				log.Error("backfill: save state", "err", err)
			}
		}
	}
	saveCtx, stopSave := context.WithCancel(ctx)
	defer stopSave()
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-saveCtx.Done():
				return
			case <-t.C:
				save()
			}
		}
	}()
	defer save()
	for {
		g, ok := r.Tracker.next(ctx)
		if !ok {
			return nil
		}
		r.mu.Lock()
		r.stats.Gaps++
		if r.Horizon > 0 && g.To.Sub(g.From) > r.Horizon {
			r.stats.LongGaps++
			log.Warn("backfill: gap longer than the horizon; backfilling it whole", "from", g.From, "to", g.To,
				"length", g.To.Sub(g.From).Round(time.Second), "horizon", r.Horizon)
		}
		r.mu.Unlock()
		// Let the rows of calls that ended at the gap's end be written.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.Settle):
		}
		if err := r.window(ctx, g, log); err != nil {
			return nil // ctx ended
		}
	}
}

func (r *Runner) window(ctx context.Context, g Gap, log *slog.Logger) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = 500*time.Millisecond, r.RetryMax, 0
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, timeout)
		out, rep, err := r.B.Window(wctx, g.From, g.To)
		cancel()
		if err == nil {
			for _, cs := range out {
				r.Emit(cs)
			}
			r.mu.Lock()
			r.stats.Windows++
			r.stats.Published += rep.Published
			r.stats.InLedger += rep.InLedger
			r.stats.Open += rep.Open
			r.stats.Last = g
			r.problem = ""
			r.mu.Unlock()
			log.Info("backfill: gap done", "why", g.Why, "from", g.From, "to", g.To, "linkedids", rep.LinkedIDs,
				"rows", rep.Rows, "queue_lines", rep.QueueLines, "published", rep.Published, "in_ledger", rep.InLedger,
				"open", rep.Open, "outside", rep.Outside, "bad_rows", rep.BadRows, "unknown", rep.Translate.Unknown)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := bo.NextBackOff()
		r.mu.Lock()
		r.stats.Failures++
		r.stats.LastError = err.Error()
		r.problem = fmt.Sprintf("gap %s..%s (%s) not backfilled yet: %v", g.From.Format(time.RFC3339), g.To.Format(time.RFC3339), g.Why, err)
		r.mu.Unlock()
		log.Warn("backfill: window failed; retrying", "why", g.Why, "from", g.From, "to", g.To, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
