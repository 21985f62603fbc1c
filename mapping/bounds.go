package mapping

import "time"

// deadPerCall bounds the memory of finalized ids: a call leaves a few
// channel ids and linkedids behind, so MaxCalls calls leave at most this
// many each before the oldest are forgotten.
const deadPerCall = 8

// bury remembers a channel id or linkedid of a finalized call, so a late
// report of it from the other source opens no new call. At most
// deadPerCall×MaxCalls are remembered: under a flood the oldest go first
// (they are the least likely to still get a late report).
func (m *Machine) bury(id string, t time.Time) {
	if _, ok := m.dead[id]; !ok {
		m.deadOrder = append(m.deadOrder, id)
	}
	m.dead[id] = t
	for len(m.dead) > deadPerCall*m.cfg.MaxCalls && len(m.deadOrder) > 0 {
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
