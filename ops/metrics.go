// Package ops is the operations side of the daemon: /healthz, /readyz
// (Health) and /metrics (Metrics), served by one HTTP server.
package ops

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/callstatus/callstatus/mapping"
)

// Metrics is the daemon's Prometheus instrumentation on its own registry
// (no global state, so tests and two daemons in one process do not meet).
// The hot path touches only pre-resolved counters; everything that already
// exists as a counter elsewhere (the daemon's Counters, the engine's mapping.Stats, the
// sources' wire counters) is read at scrape time by a collector instead of
// being counted twice.
//
// A nil *Metrics is valid and records nothing.
type Metrics struct {
	reg *prometheus.Registry

	published      *prometheus.CounterVec
	publishSeconds prometheus.Histogram
	delaySeconds   prometheus.Histogram

	receivedVec   *prometheus.CounterVec
	lagVec        *prometheus.HistogramVec
	reconnectsVec *prometheus.CounterVec
	upVec         *prometheus.GaugeVec

	srcMu   sync.Mutex
	sources map[string]*SourceMetrics

	counters func() Counters
	descs    collectorDescs

	engMu  sync.Mutex
	engine mapping.Stats
	active int

	wireMu sync.Mutex
	wire   []wireSource
}

// SourceMetrics are one supervisor's pre-resolved series. A nil
// *SourceMetrics records nothing.
type SourceMetrics struct {
	name       string
	vec        *prometheus.CounterVec
	received   [kindSlots]atomic.Pointer[counterRef] // resolved on first use
	lag        prometheus.Observer
	reconnects prometheus.Counter
	up         prometheus.Gauge
	everUp     bool
}

type counterRef struct{ prometheus.Counter }

// kindSlots bounds mapping.Kind values; larger ones count as "unknown".
const kindSlots = 64

// wireSource reads one source's own counters (AMI frames by event name,
// ARI messages by type) at scrape time.
type wireSource struct {
	name string
	read func() WireStats
}

// WireStats is what a source saw on the wire, before translation.
type WireStats struct {
	// ByType counts messages per AMI event name or ARI type.
	ByType map[string]uint64
	// Ignored counts messages that did not become events, by why:
	// malformed, not_translated, unknown_type, decode_error.
	Ignored map[string]uint64
}

// lagBuckets span a LAN hop (ms) to a PBX under stress (seconds).
func lagBuckets() []float64 {
	return []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
}

// Counters are the daemon's counters kept elsewhere (the event queue, the
// engine, the outbox, the publisher), read at scrape time.
type Counters struct {
	QueueLength     int64  // events waiting for the engine
	QueueMaxLength  int64  // the most events that ever waited
	EventsDropped   uint64 // events lost between a source and the engine
	StatusesEmitted uint64 // final statuses the engine produced
	OutboxLength    int64  // statuses waiting for NATS
	OutboxMaxLength int64  // the most statuses that ever waited
	PublishErrors   uint64 // failed publish attempts
	StatusesDropped uint64 // statuses never acknowledged
	SourceDowns     uint64 // source connection losses
	OutboxErrors    uint64 // outbox disk errors (a write or fsync refused)
	OutboxMemory    int64  // statuses the disk refused, held in memory only
	Parked          int64  // statuses parked in the dead letter now
	ParkedTotal     uint64 // statuses ever parked by this process
	LedgerErrors    uint64 // ledger (KV bucket) writes that failed
}

// NewMetrics registers the daemon's metrics, plus the Go runtime and
// process collectors, on a fresh registry. counters is read at every
// scrape; nil reads zeros.
func NewMetrics(counters func() Counters) *Metrics {
	if counters == nil {
		counters = func() Counters { return Counters{} }
	}
	m := &Metrics{reg: prometheus.NewRegistry(), counters: counters, sources: map[string]*SourceMetrics{}, descs: newCollectorDescs()}
	m.published = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "callstatus_statuses_published_total",
		Help: "Final call statuses acknowledged by NATS, by category and status.",
	}, []string{"category", "status"})
	m.publishSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "callstatus_publish_duration_seconds",
		Help:    "Duration of one successful publish: JetStream ack, or core publish and flush.",
		Buckets: lagBuckets(),
	})
	m.delaySeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "callstatus_status_delay_seconds",
		Help:    "From the call's end (its last hangup, Asterisk time) to the status acknowledged by NATS: what a consumer waits. Includes the two-source confirm grace and any outage.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 7.5, 10, 30, 60, 300},
	})
	// Every combination is known up front: the eight statuses start at 0,
	// so a rate() over them works before the first call of each kind.
	for cat, statuses := range map[mapping.Category][]mapping.Status{
		mapping.Outbound:   {mapping.Connected, mapping.VoicemailDropped, mapping.Canceled},
		mapping.Inbound:    {mapping.Answered, mapping.Missed},
		mapping.Callcenter: {mapping.Handled, mapping.Abandoned, mapping.Timeout},
	} {
		for _, st := range statuses {
			m.published.WithLabelValues(string(cat), string(st))
		}
	}
	// The per-source vectors; each source resolves its series once.
	m.receivedVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "callstatus_events_received_total",
		Help: "Events handed to the engine, by source connection and event type (mapping kind).",
	}, []string{"source", "type"})
	m.lagVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "callstatus_event_lag_seconds",
		Help:    "Receive time minus Asterisk's own event timestamp (AMI timestampevents=yes, ARI timestamp). Includes clock skew between the hosts.",
		Buckets: lagBuckets(),
	}, []string{"source"})
	m.reconnectsVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "callstatus_source_reconnects_total",
		Help: "Times a source connection came back after being down.",
	}, []string{"source"})
	m.upVec = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "callstatus_source_up",
		Help: "1 while the source (AMI or ARI) is connected and logged in.",
	}, []string{"source"})
	m.reg.MustRegister(m.receivedVec, m.lagVec, m.reconnectsVec, m.upVec, m.published, m.publishSeconds, m.delaySeconds, (*metricsCollector)(m),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is what /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Source returns name's series, resolving them on first use.
func (m *Metrics) Source(name string) *SourceMetrics {
	if m == nil {
		return nil
	}
	m.srcMu.Lock()
	defer m.srcMu.Unlock()
	if s, ok := m.sources[name]; ok {
		return s
	}
	s := &SourceMetrics{
		name:       name,
		vec:        m.receivedVec,
		lag:        m.lagVec.WithLabelValues(name),
		reconnects: m.reconnectsVec.WithLabelValues(name),
		up:         m.upVec.WithLabelValues(name),
	}
	m.sources[name] = s
	return s
}

// Received counts one event a source handed on; asteriskTime is the
// event's own timestamp (zero when Asterisk sent none) and now the moment
// it was read.
func (s *SourceMetrics) Received(ev mapping.Event, asteriskTime, now time.Time) {
	if s == nil {
		return
	}
	k := int(ev.Kind)
	if k >= kindSlots {
		k = 0
	}
	c := s.received[k].Load()
	if c == nil {
		// Only the kinds a PBX actually sends get a series; racing
		// goroutines resolve the same child.
		c = &counterRef{s.vec.WithLabelValues(s.name, mapping.Kind(k).String())}
		s.received[k].Store(c)
	}
	c.Inc()
	switch ev.Kind {
	case mapping.ChannelSnapshot, mapping.SnapshotDone, mapping.SourceUp, mapping.SourceDown:
		// Not live events: their time is when they were listed or made.
		return
	}
	if asteriskTime.IsZero() {
		return
	}
	lag := now.Sub(asteriskTime).Seconds()
	if lag < 0 {
		lag = 0 // the PBX clock is ahead; counted in the first bucket
	}
	s.lag.Observe(lag)
}

// Connected records the source's state; a connect after a loss counts as a
// reconnect.
func (s *SourceMetrics) Connected(up bool) {
	if s == nil {
		return
	}
	if up {
		if s.everUp {
			s.reconnects.Inc()
		}
		s.everUp = true
		s.up.Set(1)
		return
	}
	s.up.Set(0)
}

// PublishedOK records one acknowledged status and how long its successful
// attempt took.
func (m *Metrics) PublishedOK(cs mapping.CallStatus, took time.Duration, now time.Time) {
	if m == nil {
		return
	}
	m.published.WithLabelValues(string(cs.Category), string(cs.Status)).Inc()
	m.publishSeconds.Observe(took.Seconds())
	if !cs.End.IsZero() {
		d := now.Sub(cs.End).Seconds()
		if d < 0 {
			d = 0
		}
		m.delaySeconds.Observe(d)
	}
}

// EngineState is the engine goroutine's periodic report: the machine is
// not safe to read from the scrape goroutine.
func (m *Metrics) EngineState(active int, st mapping.Stats) {
	if m == nil {
		return
	}
	m.engMu.Lock()
	m.active, m.engine = active, st
	m.engMu.Unlock()
}

// AddWire registers a source's wire counters, read at scrape time.
func (m *Metrics) AddWire(name string, read func() WireStats) {
	if m == nil {
		return
	}
	m.wireMu.Lock()
	m.wire = append(m.wire, wireSource{name: name, read: read})
	m.wireMu.Unlock()
}

// metricsCollector exposes the counters kept elsewhere, read at scrape
// time.
type metricsCollector Metrics

// collectorDescs describe what the collector reads at scrape time.
type collectorDescs struct {
	active, engine, queue, queueMax, dropped, emitted, outbox, outboxMax,
	pubErrors, statDropped, wire, wireIgnored, sourceDowns,
	outboxErrors, outboxMemory, parked, parkedTotal, ledgerErrors *prometheus.Desc
}

func newCollectorDescs() collectorDescs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return collectorDescs{
		active:      d("callstatus_active_calls", "Calls the engine is tracking now (not yet finished), as of its last sweep."),
		engine:      d("callstatus_engine_total", "Engine counters: events applied and ignored (about no channel or a finished call), calls finalized, merged, evicted (max_calls), expired (call_ttl or unconfirmed hangup), orphaned (finalized after a source gap), late (dropped: about a finalized call), recovered_panics (engine errors survived; the calls involved are published as incomplete, inferred engine_error).", "counter"),
		queue:       d("callstatus_event_queue_length", "Events waiting for the engine."),
		queueMax:    d("callstatus_event_queue_max_length", "The most events that ever waited for the engine."),
		dropped:     d("callstatus_events_dropped_total", "Events lost between a source and the engine (only at shutdown with a stalled engine); should stay 0."),
		emitted:     d("callstatus_statuses_emitted_total", "Final statuses the engine produced (published or not yet)."),
		outbox:      d("callstatus_outbox_length", "Statuses waiting to be acknowledged by NATS."),
		outboxMax:   d("callstatus_outbox_max_length", "The most statuses that ever waited for NATS."),
		pubErrors:   d("callstatus_publish_errors_total", "Failed publish attempts (each is retried until acknowledged)."),
		statDropped: d("callstatus_statuses_dropped_total", "Statuses never acknowledged: still in memory at the shutdown deadline (a memory-only outbox, or statuses the disk refused), or dropped because the disk refused writes and outbox.memory was full."),
		wire:        d("callstatus_source_messages_total", "Messages read from a source, by AMI event name or ARI type, before translation.", "source", "type"),
		wireIgnored: d("callstatus_source_messages_ignored_total", "Messages that did not become events: malformed, not_translated (events the engine does not need), unknown_type, decode_error.", "source", "reason"),
		sourceDowns: d("callstatus_source_downs_total", "Source connection losses (all sources)."),

		outboxErrors: d("callstatus_outbox_errors_total", "Outbox disk errors: a write or fsync refused (disk full, failing disk), an unreadable record."),
		outboxMemory: d("callstatus_outbox_memory_only", "Statuses the disk refused, held in memory only until it takes them again (lost on a crash)."),
		parked:       d("callstatus_statuses_parked", "Statuses NATS refused for good (permission, size, missing stream), parked in the outbox's dead letter (callstatusd outbox list)."),
		parkedTotal:  d("callstatus_statuses_parked_total", "Statuses parked in the dead letter by this process."),
		ledgerErrors: d("callstatus_ledger_errors_total", "Writes to the KV bucket of published calls (nats.ledger) that failed; the status itself was published."),
	}
}

func (d collectorDescs) all() []*prometheus.Desc {
	return []*prometheus.Desc{d.active, d.engine, d.queue, d.queueMax, d.dropped, d.emitted, d.outbox, d.outboxMax,
		d.pubErrors, d.statDropped, d.wire, d.wireIgnored, d.sourceDowns, d.outboxErrors, d.outboxMemory, d.parked, d.parkedTotal, d.ledgerErrors}
}

// engineCounters name the mapping.Stats fields in callstatus_engine_total.
func engineCounters(s mapping.Stats) []struct {
	name string
	v    uint64
} {
	return []struct {
		name string
		v    uint64
	}{
		{"applied", s.Events}, {"ignored", s.Ignored}, {"finalized", s.Calls}, {"merged", s.Merges},
		{"evicted", s.Evicted}, {"expired", s.Expired}, {"orphaned", s.Orphaned},
		{"late", s.Late}, {"recovered_panics", s.Recovered},
	}
}

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs.all() {
		ch <- d
	}
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	s, d := c.counters(), c.descs
	gauge(d.queue, float64(s.QueueLength))
	gauge(d.queueMax, float64(s.QueueMaxLength))
	counter(d.dropped, s.EventsDropped)
	counter(d.emitted, s.StatusesEmitted)
	gauge(d.outbox, float64(s.OutboxLength))
	gauge(d.outboxMax, float64(s.OutboxMaxLength))
	counter(d.pubErrors, s.PublishErrors)
	counter(d.statDropped, s.StatusesDropped)
	counter(d.sourceDowns, s.SourceDowns)
	counter(d.outboxErrors, s.OutboxErrors)
	gauge(d.outboxMemory, float64(s.OutboxMemory))
	gauge(d.parked, float64(s.Parked))
	counter(d.parkedTotal, s.ParkedTotal)
	counter(d.ledgerErrors, s.LedgerErrors)

	c.engMu.Lock()
	active, eng := c.active, c.engine
	c.engMu.Unlock()
	gauge(d.active, float64(active))
	for _, f := range engineCounters(eng) {
		counter(d.engine, f.v, f.name)
	}

	c.wireMu.Lock()
	wire := append([]wireSource(nil), c.wire...)
	c.wireMu.Unlock()
	for _, w := range wire {
		st := w.read()
		for _, t := range sortedKeys(st.ByType) {
			counter(d.wire, st.ByType[t], w.name, t)
		}
		for _, r := range sortedKeys(st.Ignored) {
			counter(d.wireIgnored, st.Ignored[r], w.name, r)
		}
	}
}

func sortedKeys(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
