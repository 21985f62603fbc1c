package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/callstatus/callstatus/internal/testkit"
	"github.com/callstatus/callstatus/lab"
)

// Shadow reconciliation on every lab scenario: one daemon (AMI and ARI)
// with backfill.shadow on; every live status is derived again from CEL
// (the lab's PostgreSQL) and queue_log (Asterisk's log directory mounted
// from the host) a second after it went out. They must all agree.
func TestShadowAgreesOnLab(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: needs Docker")
	}
	t.Parallel()
	logDir := filepath.Join(t.TempDir(), "asterisk-log")
	ctx0, cancel0 := context.WithTimeout(context.Background(), 2*time.Minute)
	ast, err := lab.Start(ctx0, lab.Options{LogDir: logDir})
	cancel0()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ast.Stop(context.Background()) })
	port, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := faultConfig(t, ast)
	cfg.NATS.URLs = nil
	cfg.NATS.Embedded.Port = port
	cfg.Backfill.Enabled = true
	cfg.Backfill.DSN = ast.PGDSN
	cfg.Backfill.QueueLog = filepath.Join(logDir, "queue_log")
	cfg.Backfill.Shadow = true
	cfg.Backfill.ShadowDelay = 3 * time.Second // 4 looks 3 s apart: a call's last CEL rows may come after its live status
	var logs testkit.Buffer                    // the shadow's lines name each missing or disagreeing call: shown on failure
	var w io.Writer = &logs
	if testing.Verbose() {
		w = io.MultiWriter(&logs, os.Stderr)
	}
	d := startRunningLog(t, cfg, slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})))
	d.sourcesUp(t, 2)
	box := subscribeAll(t, "nats://127.0.0.1:"+strconv.Itoa(port))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	drv := newDriver(ctx, t, ast)
	defer drv.Close()
	var g errgroup.Group
	calls := 0
	var sip []lab.Scenario
	for _, s := range lab.Scenarios() {
		calls += published(s.Calls) // a call known missing (answer key) has no status
		if s.SIP {
			sip = append(sip, s)
			continue
		}
		g.Go(func() error { return drv.Run(ctx, s.Name) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, s := range sip {
		if err := drv.Run(ctx, s.Name); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "every call's status", func() bool { return box.len() >= calls })
	n := box.len()
	waitFor(t, 60*time.Second, "every shadow check", func() bool {
		return shadow(t, d, "agree")+shadow(t, d, "disagree")+shadow(t, d, "missing") >= float64(n)
	})
	agree, disagree, missing := shadow(t, d, "agree"), shadow(t, d, "disagree"), shadow(t, d, "missing")
	t.Logf("shadow reconciliation on %d live statuses of %d lab scenarios: %v agree, %v disagree, %v missing; per rule:\n%s",
		n, len(lab.Scenarios()), agree, disagree, missing, shadowRules(t, d))
	if disagree != 0 || missing != 0 {
		t.Errorf("shadow: %v disagree, %v missing; the shadow's log:\n%s", disagree, missing, grep(logs.String(), "component=shadow"))
	}
}

// grep is the lines of text holding s.
func grep(text, s string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

// shadowRules lists callstatus_shadow_total by rule and result.
func shadowRules(t *testing.T, r *running) string {
	t.Helper()
	mfs, err := r.d.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, mf := range mfs {
		if mf.GetName() != "callstatus_shadow_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			lines = append(lines, fmt.Sprintf("  %-70s %-8s %v", labels["rule"], labels["result"], m.GetCounter().GetValue()))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
