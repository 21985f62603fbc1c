package adapter

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

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
	eventually(t, 10*time.Second, "status published", func() bool { return d.Stats().Publish.Published.Load() == 1 })

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
