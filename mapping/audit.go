package mapping

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Audit wraps a Machine and checks, after every step, what the engine
// promises its consumers whatever the input:
//
//   - Active() equals the calls in flight, and the engine's indexes agree
//     with each other (check);
//   - a call id is published at most once, and a channel's uniqueid is in
//     at most one published status;
//   - a channel once published is never tracked again (late events neither
//     start nor revive a call);
//   - at Finish, after a sweep far in the future, nothing is in flight and
//     every channel the engine ever tracked was published exactly once.
//
// The fuzz target, the table, golden and interleaving tests drive the
// engine through it; replay can too. It costs a walk of the engine's state
// per step: it is a checker, not the daemon's path.
type Audit struct {
	m         *Machine
	callIDs   map[string]bool
	owner     map[string]string // uniqueid -> the call id that published it
	tracked   map[string]bool   // every uniqueid the engine tracked
	Published []CallStatus
}

// NewAudit returns an audited engine with the given rules.
func NewAudit(cfg Config) *Audit {
	return &Audit{m: New(cfg), callIDs: map[string]bool{}, owner: map[string]string{}, tracked: map[string]bool{}}
}

// Machine is the audited engine.
func (a *Audit) Machine() *Machine { return a.m }

// Apply applies e and checks the invariants.
func (a *Audit) Apply(e Event) ([]CallStatus, error) {
	out := a.m.Apply(e)
	if err := a.step(out); err != nil {
		return out, fmt.Errorf("after %s (source %s, chan %q, peer %q): %w", e.Kind, e.Source, e.Chan.UniqueID, e.Peer.UniqueID, err)
	}
	return out, nil
}

// Sweep sweeps at now and checks the invariants.
func (a *Audit) Sweep(now time.Time) ([]CallStatus, error) {
	out := a.m.Sweep(now)
	if err := a.step(out); err != nil {
		return out, fmt.Errorf("after sweep at %s: %w", now.Format(time.RFC3339Nano), err)
	}
	return out, nil
}

// Finish sweeps far past now (beyond any TTL) and checks that nothing is
// left in flight and that every tracked channel was published once.
func (a *Audit) Finish(now time.Time) ([]CallStatus, error) {
	out, err := a.Sweep(now.Add(a.m.cfg.CallTTL + a.m.cfg.ConfirmGrace + 24*time.Hour))
	if err != nil {
		return out, err
	}
	if n := a.m.Active(); n != 0 {
		return out, fmt.Errorf("%d calls still in flight after a far-future sweep", n)
	}
	var lost []string
	for id := range a.tracked {
		if _, ok := a.owner[id]; !ok {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		return out, fmt.Errorf("channels tracked but never published: %v", lost)
	}
	return out, nil
}

func (a *Audit) step(out []CallStatus) error {
	var errs []error
	for _, cs := range out {
		a.Published = append(a.Published, cs)
		if a.callIDs[cs.CallID] {
			errs = append(errs, fmt.Errorf("call %s published twice", cs.CallID))
		}
		a.callIDs[cs.CallID] = true
		if len(cs.UniqueIDs) != len(cs.Channels) {
			errs = append(errs, fmt.Errorf("call %s: %d uniqueids for %d channels", cs.CallID, len(cs.UniqueIDs), len(cs.Channels)))
		}
		for _, id := range cs.UniqueIDs {
			if prev, ok := a.owner[id]; ok {
				errs = append(errs, fmt.Errorf("channel %s published in %s and in %s", id, prev, cs.CallID))
			}
			a.owner[id] = cs.CallID
			a.tracked[id] = true
		}
	}
	for id := range a.m.chans {
		if prev, ok := a.owner[id]; ok {
			errs = append(errs, fmt.Errorf("channel %s tracked again after call %s was published", id, prev))
		}
		a.tracked[id] = true
	}
	if err := a.m.check(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// check verifies that the engine's indexes describe one consistent set of
// live calls: Active counts them, every tracked channel belongs to exactly
// one of them, and no index points at a finished call.
func (m *Machine) check() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	calls := map[*call]bool{}
	for id, c := range m.chans {
		switch {
		case c.id != id:
			fail("channel indexed as %q is %q", id, c.id)
		case c.call == nil || c.call.done:
			fail("channel %s belongs to a finished call", id)
		case !slices.Contains(c.call.chans, c):
			fail("channel %s missing from its call %s", id, c.call.linked)
		}
		if c.call != nil {
			calls[c.call] = true
		}
		if _, dead := m.dead[id]; dead {
			fail("channel %s is both live and finalized", id)
		}
	}
	for cl := range m.live {
		if cl.done {
			fail("finished call %s counted in flight", cl.linked)
		}
		for _, c := range cl.chans {
			if c.call != cl {
				fail("call %s lists channel %s of call %s", cl.linked, c.id, c.call.linked)
			} else if m.chans[c.id] != c {
				fail("call %s lists untracked channel %s", cl.linked, c.id)
			}
		}
		if len(cl.chans) == 0 {
			fail("call %s in flight with no channel", cl.linked)
		}
	}
	if len(calls) != len(m.live) {
		fail("Active() = %d, but the tracked channels belong to %d calls", len(m.live), len(calls))
	}
	for l, cl := range m.byLinked {
		if cl.done {
			fail("linkedid %s names a finished call", l)
		}
	}
	for b, members := range m.bridges {
		for _, c := range members {
			if c.bridge != b || m.chans[c.id] != c {
				fail("bridge %s lists channel %s (in bridge %q, tracked %v)", b, c.id, c.bridge, m.chans[c.id] == c)
			}
		}
	}
	return errors.Join(errs...)
}
