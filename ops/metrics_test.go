package ops

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/callstatus/callstatus/mapping"
)

func TestMetricsRecord(t *testing.T) {
	var st Counters
	m := NewMetrics(func() Counters { return st })
	now := time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)

	ami := m.Source("ami")
	if m.Source("ami") != ami {
		t.Fatal("source series resolved twice")
	}
	ami.Received(mapping.Event{Kind: mapping.ChannelCreated}, now.Add(-20*time.Millisecond), now)
	ami.Received(mapping.Event{Kind: mapping.ChannelHangup}, now.Add(-30*time.Millisecond), now)
	ami.Received(mapping.Event{Kind: mapping.ChannelHangup}, time.Time{}, now)           // no Asterisk time: no lag
	ami.Received(mapping.Event{Kind: mapping.ChannelSnapshot}, now.Add(-time.Hour), now) // not live: no lag
	ami.Received(mapping.Event{Kind: mapping.Kind(200)}, time.Time{}, now)               // out of range: "unknown"
	ami.Connected(true)
	ami.Connected(false)
	ami.Connected(true)

	cs := sampleStatus(1)
	m.PublishedOK(cs, 3*time.Millisecond, cs.End.Add(2*time.Second))
	m.EngineState(7, mapping.Stats{Events: 100, Ignored: 4, Evicted: 2, Expired: 3, Late: 6, Recovered: 1})
	st.PublishErrors = 5
	st.OutboxLength = 9
	st.EventsDropped = 1
	m.AddWire("ami", func() WireStats {
		return WireStats{ByType: map[string]uint64{"Newchannel": 12, "Hangup": 11}, Ignored: map[string]uint64{"malformed": 1, "not_translated": 40}}
	})

	tests := map[string]struct {
		metric string
		want   string
	}{
		"events by source and type": {"callstatus_events_received_total", `
			callstatus_events_received_total{source="ami",type="channel_hangup"} 2
			callstatus_events_received_total{source="ami",type="channel_created"} 1
			callstatus_events_received_total{source="ami",type="channel_snapshot"} 1
			callstatus_events_received_total{source="ami",type="unknown"} 1
		`},
		"reconnects count only comebacks": {"callstatus_source_reconnects_total", `
			callstatus_source_reconnects_total{source="ami"} 1
		`},
		"source up": {"callstatus_source_up", `callstatus_source_up{source="ami"} 1`},
		"published by category and status, all eight known": {"callstatus_statuses_published_total", `
			callstatus_statuses_published_total{category="inbound",status="answered"} 1
			callstatus_statuses_published_total{category="inbound",status="missed"} 0
			callstatus_statuses_published_total{category="outbound",status="connected"} 0
			callstatus_statuses_published_total{category="outbound",status="canceled"} 0
			callstatus_statuses_published_total{category="outbound",status="voicemail_dropped"} 0
			callstatus_statuses_published_total{category="callcenter",status="handled"} 0
			callstatus_statuses_published_total{category="callcenter",status="abandoned"} 0
			callstatus_statuses_published_total{category="callcenter",status="timeout"} 0
		`},
		"active calls": {"callstatus_active_calls", `callstatus_active_calls 7`},
		"engine counters": {"callstatus_engine_total", `
			callstatus_engine_total{counter="applied"} 100
			callstatus_engine_total{counter="ignored"} 4
			callstatus_engine_total{counter="finalized"} 0
			callstatus_engine_total{counter="merged"} 0
			callstatus_engine_total{counter="evicted"} 2
			callstatus_engine_total{counter="expired"} 3
			callstatus_engine_total{counter="orphaned"} 0
			callstatus_engine_total{counter="late"} 6
			callstatus_engine_total{counter="recovered_panics"} 1
		`},
		"publish errors":  {"callstatus_publish_errors_total", `callstatus_publish_errors_total 5`},
		"outbox length":   {"callstatus_outbox_length", `callstatus_outbox_length 9`},
		"dropped events":  {"callstatus_events_dropped_total", `callstatus_events_dropped_total 1`},
		"wire by type":    {"callstatus_source_messages_total", `callstatus_source_messages_total{source="ami",type="Hangup"} 11` + "\n" + `callstatus_source_messages_total{source="ami",type="Newchannel"} 12`},
		"ignored on wire": {"callstatus_source_messages_ignored_total", `callstatus_source_messages_ignored_total{reason="malformed",source="ami"} 1` + "\n" + `callstatus_source_messages_ignored_total{reason="not_translated",source="ami"} 40`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			typ := "counter"
			if strings.HasSuffix(tc.metric, "_up") || strings.HasSuffix(tc.metric, "_calls") || strings.HasSuffix(tc.metric, "_length") {
				typ = "gauge"
			}
			exp := fmt.Sprintf("# HELP %s %s\n# TYPE %s %s\n", tc.metric, help(t, m, tc.metric), tc.metric, typ)
			for _, l := range strings.Split(tc.want, "\n") {
				if l = strings.TrimSpace(l); l != "" {
					exp += l + "\n"
				}
			}
			if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(exp), tc.metric); err != nil {
				t.Error(err)
			}
		})
	}

	// Histograms: two lag samples (20 ms, 30 ms), one publish, one delay of 2 s.
	for metric, want := range map[string]int{"callstatus_event_lag_seconds": 2, "callstatus_publish_duration_seconds": 1, "callstatus_status_delay_seconds": 1} {
		mfs, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, mf := range mfs {
			if mf.GetName() != metric {
				continue
			}
			found = true
			if n := mf.GetMetric()[0].GetHistogram().GetSampleCount(); int(n) != want {
				t.Errorf("%s: %d samples, want %d", metric, n, want)
			}
		}
		if !found {
			t.Errorf("%s missing", metric)
		}
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func help(t *testing.T, m *Metrics, name string) string {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetHelp()
		}
	}
	t.Fatalf("no metric %s", name)
	return ""
}

// Two registries never collide: metrics live in the daemon, not globals.
func TestMetricsNoGlobals(t *testing.T) {
	a, b := NewMetrics(nil), NewMetrics(nil)
	a.Source("ami").Received(mapping.Event{Kind: mapping.ChannelCreated}, time.Time{}, time.Now())
	if n := testutil.CollectAndCount(b.receivedVec); n != 0 {
		t.Errorf("second registry sees %d series", n)
	}
	var nilM *Metrics
	nilM.PublishedOK(sampleStatus(1), time.Millisecond, time.Now()) // must not panic
	nilM.EngineState(1, mapping.Stats{})
	nilM.Source("ami").Received(mapping.Event{}, time.Time{}, time.Now())
}
