package mapping

import "time"

// bury remembers a channel of a finalized call, so a late report of it
// from the other source opens no new call. At most MaxCalls are
// remembered: under a flood the oldest go first (they are the least likely
// to still get a late report).
func (m *Machine) bury(id string, t time.Time) {
	if _, ok := m.dead[id]; !ok {
		m.deadOrder = append(m.deadOrder, id)
	}
	m.dead[id] = t
	for len(m.dead) > m.cfg.MaxCalls && len(m.deadOrder) > 0 {
		m.popDead()
	}
}

// forget drops buried channels older than keep, oldest first.
func (m *Machine) forget(now time.Time, keep time.Duration) {
	for len(m.deadOrder) > 0 {
		t, ok := m.dead[m.deadOrder[0]]
		if ok && now.Sub(t) <= keep {
			return
		}
		m.popDead()
	}
}

func (m *Machine) popDead() {
	id := m.deadOrder[0]
	m.deadOrder[0] = ""
	m.deadOrder = m.deadOrder[1:]
	delete(m.dead, id)
	if len(m.deadOrder) == 0 {
		m.deadOrder = nil
	}
}
