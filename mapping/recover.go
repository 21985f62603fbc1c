package mapping

import "fmt"

// Recover is the engine goroutine's safety net after Apply or Sweep
// panicked: it finalizes, as incomplete with Inferred "engine_error", the
// call the engine was working on and every live call e names (e may be
// nil after a Sweep), so those calls are published rather than lost and the
// daemon goes on. A call that cannot even be decided is dropped from the
// engine; its id is in the returned error.
func (m *Machine) Recover(e *Event) (out []CallStatus, err error) {
	m.stats.Recovered++
	var calls []*call
	add := func(cl *call) {
		if cl != nil && !cl.done {
			for _, o := range calls {
				if o == cl {
					return
				}
			}
			calls = append(calls, cl)
		}
	}
	add(m.current)
	if e != nil {
		for _, id := range append([]string{e.Chan.UniqueID, e.Chan.LinkedID, e.Peer.UniqueID, e.Peer.LinkedID}, e.Linked...) {
			if id != "" {
				add(m.callOf(id))
			}
		}
	}
	m.current, m.last = nil, nil
	for _, cl := range calls {
		st, ok := m.finalizeSafely(cl)
		if !ok {
			err = fmt.Errorf("mapping: call %s:%s could not be decided after an engine error; dropped", m.cfg.PBXID, cl.linked)
			continue
		}
		out = append(out, st)
	}
	return out, err
}

func (m *Machine) finalizeSafely(cl *call) (st CallStatus, ok bool) {
	defer func() {
		if recover() != nil {
			m.drop(cl)
			ok = false
		}
	}()
	return m.finalize(cl, cl.last, "engine_error"), true
}

// drop forgets a call without a status: its state was beyond deciding.
func (m *Machine) drop(cl *call) {
	m.retire(cl)
	for _, l := range append(cl.aliases, cl.linked) {
		if m.byLinked[l] == cl {
			delete(m.byLinked, l)
		}
	}
	for _, c := range cl.chans {
		if m.chans[c.id] == c {
			delete(m.chans, c.id)
			m.bury(c.id, m.clock.Time())
		}
		for b, members := range m.bridges {
			for i, o := range members {
				if o == c {
					m.bridges[b] = append(members[:i:i], members[i+1:]...)
					break
				}
			}
			if len(m.bridges[b]) == 0 {
				delete(m.bridges, b)
			}
		}
		if base, ok := localBase(c.name); ok && m.locals[base] == c {
			delete(m.locals, base)
		}
	}
}
