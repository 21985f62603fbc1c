package ops

import (
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Component states in /readyz.
const (
	StateConnecting   = "connecting"   // not connected yet since start
	StateConnected    = "connected"    // up
	StateDisconnected = "disconnected" // was up or tried, now down (retrying)
	StateStopping     = "stopping"     // the daemon is shutting down
)

// Health tracks whether each dependency is connected: every enabled source
// (AMI, ARI) and NATS. The daemon is ready only when all of them are, so a
// load balancer or an orchestrator sees a daemon that would lose calls as
// not ready. A nil *Health records nothing.
type Health struct {
	now func() time.Time

	mu       sync.Mutex
	parts    map[string]*ComponentState
	nats     func() (connected bool, detail string)
	natsLast ComponentState // the probe's last answer, for Since
	checks   []check
	warnings []warnings
	stopping bool
}

// warnings is a probe of advice: what to change, never a failure.
type warnings struct {
	name  string
	probe func() []string
}

// check is a problem probe: "" when all is well.
type check struct {
	name  string
	probe func() string
}

// ComponentState is one dependency in the /readyz body.
type ComponentState struct {
	State string    `json:"state"`
	Since time.Time `json:"since"`
	// Error is the last failure while not connected.
	Error string `json:"error,omitempty"`
	// Detail says more, e.g. the NATS server URL or client status.
	Detail string `json:"detail,omitempty"`
}

// Readiness is the /readyz body.
type Readiness struct {
	Ready bool `json:"ready"`
	// Status is ready, not_ready (a component is not connected),
	// degraded (every component is connected but a check reports a
	// problem: statuses parked, the disk refusing writes, the oldest
	// unpublished status too old) or stopping.
	Status     string                    `json:"status"`
	Components map[string]ComponentState `json:"components"`
	// Degraded lists the problems, each prefixed by its check's name.
	Degraded []string `json:"degraded,omitempty"`
	// Warnings say what to change (the AMI site check: read classes,
	// eventfilter, timestampevents), each prefixed by its source's name.
	// They never make the daemon unready.
	Warnings []string `json:"warnings,omitempty"`
}

// Readiness statuses.
const (
	StatusReady    = "ready"
	StatusNotReady = "not_ready"
	StatusDegraded = "degraded"
	StatusStopping = "stopping"
)

// AddCheck registers a problem probe, asked on every readiness check: a
// non-empty answer makes the daemon degraded (not ready) and is listed
// under its name.
func (h *Health) AddCheck(name string, probe func() string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.checks = append(h.checks, check{name, probe})
	h.mu.Unlock()
}

// AddWarnings registers a probe of warnings, asked on every readiness
// check and listed under its name; they never change readiness.
func (h *Health) AddWarnings(name string, probe func() []string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.warnings = append(h.warnings, warnings{name, probe})
	h.mu.Unlock()
}

// NewHealth tracks the named sources (and NATS), all connecting.
func NewHealth(sources ...string) *Health {
	h := &Health{now: time.Now, parts: map[string]*ComponentState{}}
	h.natsLast = ComponentState{State: StateConnecting, Since: h.now()}
	for _, s := range sources {
		h.parts[s] = &ComponentState{State: StateConnecting, Since: h.now()}
	}
	return h
}

// SetSource records a source's state; err explains a disconnection.
func (h *Health) SetSource(name string, up bool, err error) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.parts[name]
	if !ok {
		p = &ComponentState{State: StateConnecting, Since: h.now()}
		h.parts[name] = p
	}
	state := StateDisconnected
	if up {
		state = StateConnected
	}
	if p.State != state {
		p.State, p.Since = state, h.now()
	}
	p.Error = ""
	if !up && err != nil {
		p.Error = err.Error()
	}
}

// SetNATS installs the NATS probe, asked on every readiness check (the
// client knows its own state better than any callback bookkeeping).
func (h *Health) SetNATS(probe func() (connected bool, detail string)) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.nats = probe
	h.mu.Unlock()
}

// Stopping marks the daemon as shutting down: not ready any more.
func (h *Health) Stopping() {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.stopping = true
	h.mu.Unlock()
}

// Readiness reports every component and whether all are connected.
func (h *Health) Readiness() Readiness {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := Readiness{Ready: !h.stopping, Components: map[string]ComponentState{}}
	for name, p := range h.parts {
		r.Components[name] = *p
		if p.State != StateConnected {
			r.Ready = false
		}
	}
	if h.nats != nil {
		up, detail := h.nats()
		state := StateDisconnected
		if up {
			state = StateConnected
		}
		if state != h.natsLast.State {
			h.natsLast.State, h.natsLast.Since = state, h.now()
		}
		h.natsLast.Detail = detail
	}
	nats := h.natsLast
	if nats.State != StateConnected {
		r.Ready = false
	}
	r.Components["nats"] = nats
	connected := r.Ready
	for _, c := range h.checks {
		if p := c.probe(); p != "" {
			r.Degraded = append(r.Degraded, c.name+": "+p)
			r.Ready = false
		}
	}
	for _, w := range h.warnings {
		for _, msg := range w.probe() {
			r.Warnings = append(r.Warnings, w.name+": "+msg)
		}
	}
	switch {
	case h.stopping:
		r.Status = StatusStopping
	case !connected:
		r.Status = StatusNotReady
	case len(r.Degraded) > 0:
		r.Status = StatusDegraded
	default:
		r.Status = StatusReady
	}
	if h.stopping {
		for name, c := range r.Components {
			c.State = StateStopping
			r.Components[name] = c
		}
	}
	return r
}

// ServeHealthz answers 200 while the process serves HTTP at all: a
// liveness probe must not fail because the PBX is down (restarting the
// daemon would not bring Asterisk back).
func ServeHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// ServeHTTP is /readyz: 200 when every source and NATS are connected and
// no check reports a problem, 503 otherwise, with each component's state
// and the problems as JSON.
func (h *Health) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	r := h.Readiness()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !r.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(r)
}

// NotReady names the components that are not connected, sorted.
func (r Readiness) NotReady() []string {
	var out []string
	for name, c := range r.Components {
		if c.State != StateConnected {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
