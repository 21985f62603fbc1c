package adapter

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/callstatus/callstatus/mapping"
)

func TestMetricsRecord(t *testing.T) {
	var st Stats
	m := NewMetrics(&st)
	now := time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)

	ami := m.source("ami")
	if m.source("ami") != ami {
		t.Fatal("source series resolved twice")
	}
	ami.received1(mapping.Event{Kind: mapping.ChannelCreated}, now.Add(-20*time.Millisecond), now)
	ami.received1(mapping.Event{Kind: mapping.ChannelHangup}, now.Add(-30*time.Millisecond), now)
	ami.received1(mapping.Event{Kind: mapping.ChannelHangup}, time.Time{}, now)           // no Asterisk time: no lag
	ami.received1(mapping.Event{Kind: mapping.ChannelSnapshot}, now.Add(-time.Hour), now) // not live: no lag
	ami.received1(mapping.Event{Kind: mapping.Kind(200)}, time.Time{}, now)               // out of range: "unknown"
	ami.connected(true)
	ami.connected(false)
	ami.connected(true)

	cs := sampleStatus(1)
	m.publishedOK(cs, 3*time.Millisecond, cs.End.Add(2*time.Second))
	m.engineState(7, mapping.Stats{Events: 100, Ignored: 4, Evicted: 2, Expired: 3})
	st.PublishRetries.Add(5)
	st.OutboxDepth.Store(9)
	st.EventsDropped.Add(1)
	m.addWire("ami", func() WireStats {
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
	a.source("ami").received1(mapping.Event{Kind: mapping.ChannelCreated}, time.Time{}, time.Now())
	if n := testutil.CollectAndCount(b.receivedVec); n != 0 {
		t.Errorf("second registry sees %d series", n)
	}
	var nilM *Metrics
	nilM.publishedOK(sampleStatus(1), time.Millisecond, time.Now()) // must not panic
	nilM.engineState(1, mapping.Stats{})
	nilM.source("ami").received1(mapping.Event{}, time.Time{}, time.Now())
}

// The whole daemon: a fake AMI server feeds it; the operations server
// reports ready once AMI and NATS are connected, counts events and
// published statuses, and reports AMI down when the PBX goes away.
func TestDaemonHTTPEndpoints(t *testing.T) {
	t0 := time.Now().Add(-time.Second).UTC()
	f := startFakeAMI(t, "callstatus", "s3cret", amiInboundAnswered("1800000200.1", t0))
	cfg := testDaemonConfig(t, -1)
	cfg.NATS.Embedded.Listen = false
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.AMI.Address, cfg.AMI.Username, cfg.AMI.Password = f.addr(), "callstatus", "s3cret"
	cfg.Reconnect = ReconnectConfig{Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond, StableAfter: time.Second}
	d, stop := startDaemon(t, cfg)

	eventually(t, 5*time.Second, "http listening", func() bool { return d.HTTPAddr() != "" })
	base := "http://" + d.HTTPAddr()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz %d %q", code, body)
	}
	eventually(t, 10*time.Second, "ready", func() bool { c, _ := get("/readyz"); return c == 200 })
	eventually(t, 10*time.Second, "status published", func() bool { return d.Stats().Published.Load() == 1 })

	_, body := get("/metrics")
	for _, want := range []string{
		`callstatus_events_received_total{source="ami",type="channel_created"} 2`,
		`callstatus_statuses_published_total{category="inbound",status="answered"} 1`,
		`callstatus_source_up{source="ami"} 1`,
		`callstatus_source_messages_total{source="ami",type="Newchannel"} 2`,
		`callstatus_event_lag_seconds_count{source="ami"}`,
		`callstatus_publish_duration_seconds_count 1`,
		`callstatus_outbox_length 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}

	// The PBX goes away: not ready, AMI disconnected.
	f.ln.Close()
	f.dropAll()
	eventually(t, 5*time.Second, "not ready", func() bool { c, _ := get("/readyz"); return c == 503 })
	_, body = get("/readyz")
	if !strings.Contains(body, `"ami": {`) || !strings.Contains(body, `"state": "disconnected"`) {
		t.Errorf("/readyz body:\n%s", body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
