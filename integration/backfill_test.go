package integration

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/callstatus/callstatus/backfill"
	"github.com/callstatus/callstatus/lab"
)

// The daemon stops; calls are placed and end while nobody listens; the
// daemon starts again. Its backfill reads the gap's CEL rows from the lab's
// PostgreSQL and its queue_log, and every one of those calls is published
// exactly once, backfilled, with its scenario's status. The call the first
// run saw live falls inside the gap too (the state file is set back, as
// after a restart long past the dedupe window, which is cut to 1 s here):
// the ledger bucket, not the stream's dedupe, keeps it from going out
// again. A daemon up throughout publishes nothing twice.
func TestBackfillAfterDaemonDown(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: needs Docker")
	}
	t.Parallel()
	ast := lab.StartAsterisk(t)
	port, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := faultConfig(t, ast)
	cfg.NATS.URLs = nil
	cfg.NATS.Embedded.Port = port
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	// The daemon reads queue_log as a file: a mount of the PBX's log
	// directory in production, a copy taken before the restart here.
	qlog := filepath.Join(t.TempDir(), "queue_log")
	cfg.Backfill.Enabled = true
	cfg.Backfill.DSN = ast.PGDSN
	cfg.Backfill.QueueLog = qlog
	cfg.Backfill.Settle = time.Second
	cfg.Backfill.RetryMax = time.Second
	cfg.NATS.Stream.Duplicates = time.Second
	// Shadow reconciliation: the live call of the second run is derived
	// from CEL too, and must agree.
	cfg.Backfill.Shadow = true
	cfg.Backfill.ShadowDelay = time.Second

	d1 := startRunning(t, cfg)
	d1.sourcesUp(t, 2)
	before := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	drv := newDriver(ctx, t, ast)
	defer drv.Close()
	box1 := subscribeAll(t, url)
	used1 := map[int]bool{}
	runScenarios(ctx, t, drv, box1, used1, "inbound-answered")
	d1.stop(t)
	// (box1's client reconnects to the next run's server: keep what it
	// got from the first run only.)
	first := box1.snapshot()

	// While it is down.
	names := []string{"outbound-connected", "outbound-busy", "inbound-missed-busy", "ringgroup-missed",
		"queue-handled", "queue-timeout", "queue-joinempty", "outbound-vmdrop-ari", "transfer-blind"}
	errs := make(chan error, len(names))
	for _, n := range names {
		go func() { errs <- drv.Run(ctx, n) }()
	}
	var calls []lab.Call
	for _, n := range names {
		s, _ := lab.Lookup(n)
		calls = append(calls, s.Calls...)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := drv.WaitIdle(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	q, err := ast.Exec("cat", lab.QueueLogPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(qlog, []byte(q), 0o644); err != nil {
		t.Fatal(err)
	}

	// Longer ago than the dedupe window, and before the live call.
	time.Sleep(2 * cfg.NATS.Stream.Duplicates)
	if err := backfill.SaveState(cfg.DataDir, before); err != nil {
		t.Fatal(err)
	}
	d2 := startRunning(t, cfg)
	d2.sourcesUp(t, 2)
	box2 := subscribeAll(t, url)
	waitFor(t, 60*time.Second, "the calls placed while the daemon was down", func() bool { return box2.len() >= len(calls) })
	// Up throughout from here: one more call, seen live, and nothing
	// published a second time meanwhile.
	used2 := map[int]bool{}
	got := box2.snapshot()
	check(t, "backfill", calls, got, used2)
	for i, cs := range got {
		if !cs.Backfilled {
			t.Errorf("%s published without backfilled: %s", cs.CallID, describe(cs))
		}
		if !used2[i] {
			t.Errorf("unexpected status %s", describe(cs))
		}
	}
	runScenarios(ctx, t, drv, box2, used2, "internal-call")
	time.Sleep(2 * time.Second)
	last := box2.snapshot()
	if n := len(last); n != len(calls)+1 {
		t.Errorf("second run published %d statuses, want %d (backfilled) + 1 (live)", n, len(calls))
	}
	if cs := last[len(last)-1]; cs.Backfilled {
		t.Errorf("the live call is marked backfilled: %s", describe(cs))
	}
	onceEach(t, append(first, last...))
	if n := counter(t, d2, "callstatus_backfill_published_total"); n != float64(len(calls)) {
		t.Errorf("callstatus_backfill_published_total = %v, want %d", n, len(calls))
	}
	if st := d2.d.Backfill().Stats(); st.InLedger != 1 {
		t.Errorf("backfill found %d calls in the ledger, want 1 (the live call of the first run): %+v", st.InLedger, st)
	}
	waitFor(t, 20*time.Second, "the shadow check of the live call", func() bool { return shadow(t, d2, "agree") == 1 })
	if n := shadow(t, d2, "disagree") + shadow(t, d2, "missing"); n != 0 {
		t.Errorf("shadow: %v disagree or missing, want none", n)
	}
	for _, p := range d2.d.Health().Readiness().Degraded {
		t.Errorf("readiness degraded after the backfill: %s", p)
	}
	d2.stop(t)
}

// shadow is the daemon's callstatus_shadow_total for result, all rules.
func shadow(t *testing.T, r *running, result string) float64 {
	t.Helper()
	mfs, err := r.d.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "callstatus_shadow_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// counter is the value of a counter without labels in the daemon's /metrics.
func counter(t *testing.T, r *running, name string) float64 {
	t.Helper()
	mfs, err := r.d.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Errorf("no metric %s", name)
	return -1
}
