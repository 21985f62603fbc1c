package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/callstatus/callstatus/adapter"
	"github.com/callstatus/callstatus/lab"
	"github.com/callstatus/callstatus/ops"
)

// The operations endpoint against a real Asterisk: /readyz turns 200 once
// AMI, ARI and NATS are connected, and /metrics counts the events of a
// scenario call and the status it produced.
func TestOpsEndpointsAgainstLab(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: needs Docker")
	}
	ast := lab.StartAsterisk(t)

	cfg := adapter.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Mapping = lab.Rules()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.NATS.Embedded.Port = -1
	cfg.AMI.Address, cfg.AMI.Username, cfg.AMI.Password = ast.AMIAddr, ast.DaemonUser, ast.DaemonPass
	cfg.ARI.Enabled = true
	cfg.ARI.URL, cfg.ARI.Username, cfg.ARI.Password = ast.ARIURL, ast.DaemonUser, ast.DaemonPass
	cfg.Reconnect.Initial = 100 * time.Millisecond

	d, err := adapter.New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- d.Run(ctx) }()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + d.HTTPAddr() + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, 10*time.Second, "http server", func() bool { return d.HTTPAddr() != "" })
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if !waitFor(t, 30*time.Second, "/readyz 200", func() bool { c, _ := get("/readyz"); return c == 200 }) {
		_, body := get("/readyz")
		t.Fatalf("/readyz:\n%s", body)
	}
	_, body := get("/readyz")
	var r ops.Readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"ami", "ari", "nats"} {
		if r.Components[c].State != ops.StateConnected {
			t.Errorf("%s: %+v", c, r.Components[c])
		}
	}

	drv, err := lab.NewDriver(ctx, lab.DriverConfig{Container: ast.Container, AMIAddr: ast.AMIAddr, ARIURL: ast.ARIURL, Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	if err := drv.Run(ctx, "queue-handled"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "status published", func() bool { return d.Stats().Publish.Published.Load() >= 1 })

	_, metrics := get("/metrics")
	value := func(series string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(metrics)
		if m == nil {
			return -1
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	for series, min := range map[string]float64{
		`callstatus_statuses_published_total{category="callcenter",status="handled"}`: 1,
		`callstatus_events_received_total{source="ami",type="queue_join"}`:            1,
		`callstatus_events_received_total{source="ami",type="channel_hangup"}`:        2,
		`callstatus_events_received_total{source="ari",type="channel_hangup"}`:        2,
		`callstatus_source_messages_total{source="ami",type="QueueCallerJoin"}`:       1,
		`callstatus_source_up{source="ami"}`:                                          1,
		`callstatus_source_up{source="ari"}`:                                          1,
		`callstatus_event_lag_seconds_count{source="ami"}`:                            10,
		`callstatus_event_lag_seconds_count{source="ari"}`:                            10,
		`callstatus_publish_duration_seconds_count`:                                   1,
		`callstatus_status_delay_seconds_count`:                                       1,
	} {
		if v := value(series); v < min {
			t.Errorf("%s = %v, want at least %v", series, v, min)
		}
	}
	for series, want := range map[string]float64{
		`callstatus_events_dropped_total`:                                         0,
		`callstatus_statuses_published_total{category="inbound",status="missed"}`: 0,
	} {
		if v := value(series); v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}
	// The AMI site check finds nothing to change on the lab's manager.conf
	// (every class, timestampevents = yes).
	_, body = get("/readyz")
	r = ops.Readiness{}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) > 0 || !r.Ready {
		t.Errorf("/readyz after a call:\n%s", body)
	}

	cancel()
	if err := <-runDone; err != nil {
		t.Errorf("daemon: %v", err)
	}
}
