package adapter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/callstatus/callstatus/ami"
	"github.com/callstatus/callstatus/ari"
	"github.com/callstatus/callstatus/backfill"
	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/ops"
	"github.com/callstatus/callstatus/outbox"
	"github.com/callstatus/callstatus/publish"
)

// Daemon is one running callstatusd: sources, engine, publisher and
// (optionally) the embedded NATS server.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	stats   Stats
	sources []namedSource
	now     func() time.Time
	// newMachine builds the engine (tests wrap it to inject faults).
	newMachine func(mapping.Config) machine

	// Operations: /metrics, /readyz (httpserver.go).
	metrics  *ops.Metrics
	health   *ops.Health
	httpAddr atomic.Pointer[string]

	outboxFS outbox.FileSystem // nil: the real one (tests make the disk fail)

	// ledger answers "was this call published already" for the backfill
	// (nil: none known).
	ledger   backfill.Ledger
	backfill *backfill.Runner
}

type namedSource struct {
	name string
	src  Source
}

// New checks cfg and prepares the sources; nothing is started yet.
func New(cfg Config, log *slog.Logger) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log = orDiscard(log)
	d := &Daemon{cfg: cfg, log: log, now: time.Now}
	d.metrics = ops.NewMetrics(d.stats.Counters)
	var amiSrc *ami.Source
	if cfg.AMI.Enabled {
		ac, err := cfg.AMI.Source()
		if err != nil {
			return nil, err
		}
		src := ami.NewSource(ac, log)
		var s Source = authAware{Source: src, account: cfg.AMI.Username, is: func(err error) bool { return errors.Is(err, ami.ErrAuth) }}
		if cfg.AMI.Snapshot {
			s = &snapshotSource{Source: s, list: src.Snapshot, source: mapping.SourceAMI, log: log.With("source", "ami")}
		}
		d.sources = append(d.sources, namedSource{"ami", s})
		d.metrics.AddWire("ami", amiWire(src))
		amiSrc = src
	}
	if cfg.ARI.Enabled {
		ac, err := cfg.ARI.Source()
		if err != nil {
			return nil, err
		}
		src := ari.NewSource(ac, log)
		var s Source = authAware{Source: src, account: cfg.ARI.Username, is: func(err error) bool { return errors.Is(err, ari.ErrAuth) }}
		if cfg.ARI.Snapshot {
			s = &snapshotSource{Source: s, list: src.Channels, source: mapping.SourceARI, log: log.With("source", "ari")}
		}
		d.sources = append(d.sources, namedSource{"ari", s})
		d.metrics.AddWire("ari", ariWire(src))
	}
	d.health = ops.NewHealth(d.sourceNames()...)
	if amiSrc != nil {
		d.health.AddWarnings("ami", amiSrc.Warnings) // the site check: what the PBX hides
	}
	return d, nil
}

// Stats returns the live counters.
func (d *Daemon) Stats() *Stats { return &d.stats }

// Run starts a daemon for cfg and blocks until ctx ends and it has shut
// down.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	d, err := New(cfg, log)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}

// Run blocks until ctx ends. Shutdown goes downstream: the sources stop,
// the engine applies what is queued, the publisher empties the outbox
// (within nats.flush_timeout), the NATS connection drains, the embedded
// server stops.
func (d *Daemon) Run(ctx context.Context) error {
	cfg, log := d.cfg, d.log
	// First of all: a second daemon on the same data_dir must not touch
	// its outbox, its NATS store or its ports.
	unlock, err := cfg.LockState()
	if err != nil {
		return err
	}
	defer unlock()
	stopHTTP, err := d.startHTTP()
	if err != nil {
		return err
	}
	defer stopHTTP()

	fs := d.outboxFS
	if fs == nil {
		fs = outbox.OS
	}
	ob, err := cfg.Outbox.OpenWith(fs, cfg.DataDir, &d.stats.Outbox, log)
	if err != nil {
		return err
	}
	d.health.AddCheck("outbox", func() string { return outboxProblem(ob, cfg.Outbox.StaleAfter, d.now()) })
	defer func() {
		if err := ob.Release(); err != nil {
			log.Error("close outbox", "err", err)
		}
	}()

	var emb *publish.Embedded
	var nc *nats.Conn
	if cfg.NATS.UseEmbedded() {
		emb, err = publish.StartEmbedded(cfg.NATS.Embedded, cfg.DataDir, log)
		if err != nil {
			return err
		}
		defer emb.Shutdown()
		nc, err = emb.Connect(cfg.NATS, log)
	} else {
		nc, err = publish.Connect(cfg.NATS, log)
	}
	if err != nil {
		return err
	}
	defer drain(nc, cfg.NATS.FlushTimeout, log)
	d.health.SetNATS(publish.Probe(nc))

	pub, err := publish.New(nc, cfg.NATS, cfg.Mapping.PBXID, &d.stats.Publish, log)
	if err != nil {
		return err
	}
	pub.OnPublished = d.metrics.PublishedOK
	pub.UserLegs = cfg.Mapping.UserLegs
	if d.ledger == nil {
		// The backfill asks the publisher's KV bucket of published calls
		// (nats.ledger) before it publishes a call again.
		d.ledger = pub
	}
	q := newEventQueue(&d.stats, log)
	newMachine := d.newMachine
	if newMachine == nil {
		newMachine = func(c mapping.Config) machine { return mapping.New(c) }
	}
	eng := &engine{
		m:     newMachine(cfg.Mapping),
		in:    q.Out(),
		ob:    ob,
		every: cfg.Engine.SweepInterval,
		stats: &d.stats,
		log:   log.With("component", "engine"),
		now:   d.now,

		metrics: d.metrics,
	}

	g, gctx := errgroup.WithContext(ctx)

	// The backfill: the tracker sees every event the engine applies; the
	// runner turns each gap into the calls nobody saw, pushed to the
	// outbox before it closes.
	var backfillDone sync.WaitGroup
	if cfg.Backfill.Enabled {
		recent := newRecentCalls(cfg.Backfill.Horizon)
		eng.emitted = func(cs mapping.CallStatus, at time.Time) { recent.add(cs.CallID, at) }
		// This run's own calls first (finished by the live engine, maybe
		// not in the bucket yet, or no JetStream at all), then the ledger
		// bucket of every run (nats.ledger, set above): a call published
		// hours ago is not sent again.
		if d.ledger != nil {
			d.ledger = ledgers{recent, d.ledger}
		} else {
			d.ledger = recent
		}
		run, closeStore := d.backfillRunner(ob, log)
		defer closeStore()
		eng.observe = run.Tracker.Observe
		backfillDone.Add(1)
		go func() {
			defer backfillDone.Done()
			run.Run(gctx)
		}()
		if cfg.Backfill.Shadow {
			sh := d.shadow(run.B, log)
			live := eng.emitted
			eng.emitted = func(cs mapping.CallStatus, at time.Time) { live(cs, at); sh.Check(cs, at) }
			backfillDone.Add(1)
			go func() {
				defer backfillDone.Done()
				sh.Run(gctx)
			}()
		}
	}

	// The publisher outlives the sources by at most flush_timeout.
	pubCtx, cancelPub := context.WithCancel(context.Background())
	defer cancelPub()
	pubDone := make(chan struct{})
	go func() {
		<-gctx.Done()
		d.health.Stopping()
		t := time.NewTimer(cfg.NATS.FlushTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelPub()
		case <-pubDone:
		}
	}()

	var srcWG sync.WaitGroup
	for _, ns := range d.sources {
		srcWG.Add(1)
		g.Go(func() error {
			defer srcWG.Done()
			s := supervisor{name: ns.name, src: ns.src, out: q.In(), log: log, retry: cfg.Reconnect.retry(), stats: &d.stats, now: d.now,
				metrics: d.metrics.Source(ns.name), health: d.health}
			return s.run(gctx)
		})
	}
	g.Go(func() error {
		srcWG.Wait()
		q.Close()
		return nil
	})
	g.Go(func() error {
		eng.run()
		backfillDone.Wait()
		ob.Close()
		return nil
	})
	g.Go(func() error {
		defer close(pubDone)
		return pub.Run(pubCtx, ob)
	})

	log.Info("callstatusd running", "pbx_id", cfg.Mapping.PBXID, "sources", len(d.sources),
		"embedded_nats", emb != nil, "jetstream", cfg.NATS.JetStream)
	err = g.Wait()
	if n := ob.Len(); n > 0 {
		cs, _, _ := ob.Peek()
		lost := ob.MemoryOnly() // the whole outbox when it is not durable
		if n > lost {
			log.Warn("statuses not yet published stay in the outbox for the next start", "count", n-lost, "first_call_id", cs.CallID)
		}
		if lost > 0 {
			d.stats.PublishDropped.Add(uint64(lost))
			log.Error("statuses held in memory only were not published before the flush deadline", "count", lost)
		}
	}
	log.Info("callstatusd stopped",
		"events", d.stats.EventsApplied.Load(), "statuses", d.stats.StatusesEmitted.Load(),
		"published", d.stats.Publish.Published.Load(), "dropped_events", d.stats.EventsDropped.Load(),
		"dropped_statuses", d.stats.PublishDropped.Load())
	return err
}

// outboxProblem is the outbox's line in /readyz: statuses parked in the
// dead letter, the disk refusing writes, the oldest unpublished status
// waiting longer than staleAfter.
func outboxProblem(ob *outbox.Outbox, staleAfter time.Duration, now time.Time) string {
	var out []string
	if n := ob.Parked(); n > 0 {
		out = append(out, fmt.Sprintf("%d statuses parked in the dead letter: NATS refuses them (callstatusd outbox list, then requeue)", n))
	}
	if p := ob.Problem(); p != "" {
		out = append(out, p)
	}
	if w := ob.HeadWait(now); w > staleAfter {
		out = append(out, fmt.Sprintf("the oldest unpublished status has waited %s (outbox.stale_after %s); %d waiting",
			w.Round(time.Second), staleAfter, ob.Len()))
	}
	return strings.Join(out, "; ")
}

// drain flushes what the connection still holds and closes it.
func drain(nc *nats.Conn, timeout time.Duration, log *slog.Logger) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(timeout):
		log.Warn("nats drain timed out")
		nc.Close()
	}
}

// authAware marks a refused login so the supervisor names the account.
type authAware struct {
	Source
	account string
	is      func(error) bool
}

func (a authAware) Connect(ctx context.Context) error {
	err := a.Source.Connect(ctx)
	if err != nil && a.is(err) {
		return authError{err: err, account: a.account}
	}
	return err
}

type authError struct {
	err     error
	account string
}

func (e authError) Error() string   { return e.err.Error() }
func (e authError) Unwrap() error   { return e.err }
func (e authError) Account() string { return e.account }

// snapshotSource yields the channels that exist right after each connect
// before the live events, so calls already in progress are tracked.
type snapshotSource struct {
	Source
	list    func(ctx context.Context) ([]mapping.Event, error)
	source  mapping.Source
	log     *slog.Logger
	pending []mapping.Event
}

func (s *snapshotSource) Connect(ctx context.Context) error {
	if err := s.Source.Connect(ctx); err != nil {
		return err
	}
	taken := time.Now()
	evs, err := s.list(ctx)
	if err != nil {
		// Not fatal: live events still flow; only calls already up
		// may be reported incomplete.
		s.log.Warn("channel snapshot failed", "err", err)
		s.pending = nil
		return nil
	}
	// SnapshotDone lets the engine end the calls whose channels died
	// while the source was away.
	s.pending = append(evs, mapping.Event{Kind: mapping.SnapshotDone, Source: s.source, Time: taken})
	return nil
}

func (s *snapshotSource) Next(ctx context.Context) (mapping.Event, error) {
	if len(s.pending) > 0 {
		ev := s.pending[0]
		s.pending = s.pending[1:]
		return ev, nil
	}
	return s.Source.Next(ctx)
}

// backfillRunner prepares the backfill from cfg.Backfill: the gap since the
// last event of the previous run (kept in data_dir), or the horizon on a
// first start, then every source's down-to-up interval.
func (d *Daemon) backfillRunner(ob *outbox.Outbox, log *slog.Logger) (*backfill.Runner, func()) {
	cfg := d.cfg
	log = log.With("component", "backfill")
	last, ok, err := backfill.LoadState(cfg.DataDir)
	if err != nil {
		log.Warn("no usable state: taking the horizon as the gap", "err", err, "horizon", cfg.Backfill.Horizon)
		ok = false
	}
	store := backfill.NewDBStore(cfg.Backfill)
	run := &backfill.Runner{
		B: &backfill.Backfiller{Rules: cfg.Mapping, Store: store, Ledger: d.ledger,
			QueueLog: cfg.Backfill.QueueLog, Log: log},
		Tracker:  backfill.NewTracker(last, ok, cfg.Backfill.Horizon, d.now),
		Emit:     func(cs mapping.CallStatus) { d.stats.StatusesEmitted.Add(1); ob.Push(cs) },
		Settle:   cfg.Backfill.Settle,
		Horizon:  cfg.Backfill.Horizon,
		RetryMax: cfg.Backfill.RetryMax,
		Timeout:  cfg.Backfill.QueryTimeout,
		DataDir:  cfg.DataDir,
		Log:      log,
	}
	d.health.AddCheck("backfill", run.Problem)
	d.backfill = run
	if d.metrics != nil {
		for _, c := range []struct {
			name, help string
			get        func(backfill.RunStats) int
		}{
			{"gaps", "Gaps seen (restart, first start, a source down and up again).", func(s backfill.RunStats) int { return s.Gaps }},
			{"long_gaps", "Gaps longer than backfill.horizon (backfilled whole).", func(s backfill.RunStats) int { return s.LongGaps }},
			{"windows", "Gaps backfilled.", func(s backfill.RunStats) int { return s.Windows }},
			{"failures", "Backfill attempts that failed (database down or slow); retried.", func(s backfill.RunStats) int { return s.Failures }},
			{"published", "Calls published by the backfill (backfilled: true).", func(s backfill.RunStats) int { return s.Published }},
			{"in_ledger", "Calls of a gap found already published (ledger or this run).", func(s backfill.RunStats) int { return s.InLedger }},
		} {
			d.metrics.Registry().MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "callstatus_backfill_" + c.name + "_total", Help: c.help,
			}, func() float64 { return float64(c.get(run.Stats())) }))
		}
	}
	return run, store.Close
}

// Backfill is the backfill runner (nil when backfill.enabled is off or
// before Run).
func (d *Daemon) Backfill() *backfill.Runner { return d.backfill }

// shadow is the shadow reconciliation of cfg.Backfill, counted in
// callstatus_shadow_total{rule,result}.
func (d *Daemon) shadow(b *backfill.Backfiller, log *slog.Logger) *backfill.Shadow {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "callstatus_shadow_total",
		Help: "Live statuses compared with the same call derived from CEL and queue_log, by the live status's rule and result (agree, disagree, missing).",
	}, []string{"rule", "result"})
	if d.metrics != nil {
		d.metrics.Registry().MustRegister(vec)
	}
	return &backfill.Shadow{B: b, Delay: d.cfg.Backfill.ShadowDelay, Log: log.With("component", "shadow"),
		Count: func(rule, result string) { vec.WithLabelValues(rule, result).Inc() }}
}
