package adapter

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/ops"
	"github.com/callstatus/callstatus/outbox"
)

// engine is the one goroutine that owns the mapping.Machine: it applies
// events in arrival order, sweeps on a ticker and pushes every final status
// to the outbox (which never blocks).
type engine struct {
	m     machine
	in    <-chan []mapping.Event
	ob    *outbox.Outbox
	every time.Duration
	stats *Stats
	log   *slog.Logger
	now   func() time.Time

	metrics *ops.Metrics // nil records nothing
	// observe, when set, sees every event before the engine applies it
	// (the backfill's gap tracker).
	observe func(*mapping.Event)
	// emitted, when set, hears every call id the engine finishes (the
	// backfill skips them).
	emitted func(cs mapping.CallStatus, at time.Time)
}

// machine is what the engine goroutine needs of *mapping.Machine (tests
// wrap it to inject faults).
type machine interface {
	Apply(mapping.Event) []mapping.CallStatus
	Sweep(time.Time) []mapping.CallStatus
	Recover(*mapping.Event) ([]mapping.CallStatus, error)
	Active() int
	Stats() mapping.Stats
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
				if e.observe != nil {
					e.observe(&batch[i])
				}
				e.push(e.apply(&batch[i]))
			}
			e.stats.EventsApplied.Add(uint64(len(batch)))
		case <-t.C:
			e.push(e.sweep(e.now()))
			// The machine is this goroutine's alone: report it for
			// /metrics once per sweep rather than share it.
			e.metrics.EngineState(e.m.Active(), e.m.Stats())
		}
	}
}

// apply and sweep are the boundary where a bug in the engine stops: a
// panic is logged with what the engine was doing, counted, and the calls
// involved are published as incomplete (engine_error) instead of taking
// the daemon, and the embedded NATS server every consumer uses, down.
func (e *engine) apply(ev *mapping.Event) (out []mapping.CallStatus) {
	defer func() {
		if r := recover(); r != nil {
			out = e.recovered(r, ev)
		}
	}()
	return e.m.Apply(*ev)
}

func (e *engine) sweep(now time.Time) (out []mapping.CallStatus) {
	defer func() {
		if r := recover(); r != nil {
			out = e.recovered(r, nil)
		}
	}()
	return e.m.Sweep(now)
}

func (e *engine) recovered(r any, ev *mapping.Event) []mapping.CallStatus {
	attrs := []any{"panic", fmt.Sprint(r), "stack", string(debug.Stack())}
	if ev != nil {
		attrs = append(attrs, "event", ev.Kind.String(), "source", ev.Source.String(), "uniqueid", ev.Chan.UniqueID, "linkedid", ev.Chan.LinkedID, "seq", ev.Seq)
	} else {
		attrs = append(attrs, "during", "sweep")
	}
	out, err := e.safeRecover(ev)
	for _, cs := range out {
		attrs = append(attrs, "call_id", cs.CallID)
	}
	if err != nil {
		attrs = append(attrs, "error", err)
	}
	e.log.Error("engine error: the calls involved are published as incomplete (engine_error)", attrs...)
	return out
}

// safeRecover: Recover itself must not take the goroutine down.
func (e *engine) safeRecover(ev *mapping.Event) (out []mapping.CallStatus, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("recovering: %v", r)
		}
	}()
	return e.m.Recover(ev)
}

func (e *engine) push(done []mapping.CallStatus) {
	for _, cs := range done {
		e.stats.StatusesEmitted.Add(1)
		e.log.Debug("call finished", "call_id", cs.CallID, "category", cs.Category, "status", cs.Status, "reason", cs.Reason)
		if e.emitted != nil {
			e.emitted(cs, e.now())
		}
		e.ob.Push(cs)
	}
}
