package adapter

import (
	"log/slog"
	"time"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/ops"
	"github.com/callstatus/callstatus/outbox"
)

// engine is the one goroutine that owns the mapping.Machine: it applies
// events in arrival order, sweeps on a ticker and pushes every final status
// to the outbox (which never blocks).
type engine struct {
	m     *mapping.Machine
	in    <-chan []mapping.Event
	ob    *outbox.Outbox
	every time.Duration
	stats *Stats
	log   *slog.Logger
	now   func() time.Time

	metrics *ops.Metrics // nil records nothing
}

// run returns when in is closed and drained; it does not watch a context
// so that events queued before shutdown are still applied.
func (e *engine) run() {
	t := time.NewTicker(e.every)
	defer t.Stop()
	for {
		select {
		case batch, ok := <-e.in:
			if !ok {
				e.metrics.EngineState(e.m.Active(), e.m.Stats())
				if n := e.m.Active(); n > 0 {
					e.log.Info("stopping with calls in flight; they are not reported", "calls", n)
				}
				return
			}
			for i := range batch {
				e.push(e.m.Apply(batch[i]))
			}
			e.stats.EventsApplied.Add(uint64(len(batch)))
		case <-t.C:
			e.push(e.m.Sweep(e.now()))
			// The machine is this goroutine's alone: report it for
			// /metrics once per sweep rather than share it.
			e.metrics.EngineState(e.m.Active(), e.m.Stats())
		}
	}
}

func (e *engine) push(done []mapping.CallStatus) {
	for _, cs := range done {
		e.stats.StatusesEmitted.Add(1)
		e.log.Debug("call finished", "call_id", cs.CallID, "category", cs.Category, "status", cs.Status, "reason", cs.Reason)
		e.ob.Push(cs)
	}
}
