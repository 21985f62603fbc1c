package mapping

import (
	"fmt"
	"testing"
	"time"
)

// A flood keeps the engine's memory bounded: at most MaxCalls calls are
// tracked (the oldest evicted as incomplete), at most deadPerCall×MaxCalls
// finalized ids remembered, and the TTL sweep ends what never hangs up.
func TestFloodStaysBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxCalls = 100
	cfg.CallTTL = time.Minute
	m := New(cfg)
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ch := func(i int) Channel {
		id := fmt.Sprintf("1764064800.%d", i)
		return Channel{UniqueID: id, LinkedID: id, Name: fmt.Sprintf("PJSIP/trunk-%08x", i), Context: "from-external", Exten: "800100", CallerNum: "5550100"}
	}
	m.Apply(Event{Kind: SourceUp, Source: SourceAMI, Time: at})
	statuses := map[string]int{}
	count := func(out []CallStatus) {
		for _, cs := range out {
			statuses[cs.Inferred]++
		}
	}
	const short, endless = 5000, 5000
	for i := 0; i < short; i++ {
		count(m.Apply(Event{Kind: ChannelCreated, Source: SourceAMI, Time: at, Chan: ch(i)}))
		count(m.Apply(Event{Kind: ChannelHangup, Source: SourceAMI, Time: at, Chan: ch(i), Cause: 16}))
	}
	for i := short; i < short+endless; i++ {
		count(m.Apply(Event{Kind: ChannelCreated, Source: SourceAMI, Time: at.Add(time.Second), Chan: ch(i)}))
		if m.Active() > cfg.MaxCalls {
			t.Fatalf("%d calls tracked, cap %d", m.Active(), cfg.MaxCalls)
		}
	}
	if len(m.dead) > deadPerCall*cfg.MaxCalls || len(m.deadOrder) > deadPerCall*cfg.MaxCalls {
		t.Errorf("%d finalized channels remembered (%d in order), cap %d", len(m.dead), len(m.deadOrder), deadPerCall*cfg.MaxCalls)
	}
	if statuses[""] != short || statuses["evicted"] != endless-cfg.MaxCalls {
		t.Errorf("statuses by inference %v, want %d complete and %d evicted", statuses, short, endless-cfg.MaxCalls)
	}
	count(m.Sweep(at.Add(30 * time.Second)))
	if m.Active() != cfg.MaxCalls {
		t.Fatalf("sweep before the TTL ended calls: %d active", m.Active())
	}
	count(m.Sweep(at.Add(2 * time.Minute)))
	if m.Active() != 0 || statuses["ttl"] != cfg.MaxCalls {
		t.Errorf("after the TTL: %d active, statuses %v", m.Active(), statuses)
	}
	st := m.Stats()
	if st.Evicted != endless-uint64(cfg.MaxCalls) || st.Expired != uint64(cfg.MaxCalls) {
		t.Errorf("stats evicted %d expired %d", st.Evicted, st.Expired)
	}
	// Long after, nothing is remembered at all.
	m.Sweep(at.Add(time.Hour))
	if len(m.dead) != 0 || len(m.deadOrder) != 0 {
		t.Errorf("%d finalized channels still remembered an hour later", len(m.dead))
	}
}
