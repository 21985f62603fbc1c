package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/callstatus/callstatus/adapter"
	"github.com/callstatus/callstatus/lab"
	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/schema"
)

func testLog(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// inbox collects every published status.
type inbox struct {
	mu  sync.Mutex
	got []mapping.CallStatus
	raw [][]byte
}

func (b *inbox) len() int { b.mu.Lock(); defer b.mu.Unlock(); return len(b.got) }

func (b *inbox) snapshot() []mapping.CallStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]mapping.CallStatus(nil), b.got...)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("timed out after %s waiting for %s", d, what)
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// matches says whether cs is the status of the expected call: by caller
// number, else by called number.
func matches(c lab.Call, cs mapping.CallStatus) bool {
	return cs.From.Number == c.From || (c.To != "" && cs.To.Number == c.To)
}

func describe(cs mapping.CallStatus) string {
	return fmt.Sprintf("%s/%s reason=%q from=%q to=%q agent=%v rule=%s incomplete=%v",
		cs.Category, cs.Status, cs.Reason, cs.From.Number, cs.To.Number, cs.Agent, cs.Evidence.Rule, cs.Incomplete)
}

// check pairs each expected call with one unused status and compares.
func check(t *testing.T, scenario string, calls []lab.Call, got []mapping.CallStatus, used map[int]bool) {
	t.Helper()
	for _, c := range calls {
		idx := -1
		for i, cs := range got {
			if !used[i] && matches(c, cs) {
				idx = i
				break
			}
		}
		if idx < 0 {
			t.Errorf("%s: no status for %q (%s → %s)", scenario, c.Description, c.From, c.To)
			continue
		}
		used[idx] = true
		cs := got[idx]
		if string(cs.Category) != c.Category || string(cs.Status) != c.Status || (c.Reason != "" && cs.Reason != c.Reason) {
			t.Errorf("%s: %q\n  want %s/%s reason=%q\n   got %s", scenario, c.Description, c.Category, c.Status, c.Reason, describe(cs))
		}
		if cs.Incomplete {
			t.Errorf("%s: %q published as incomplete: %s", scenario, c.Description, describe(cs))
		}
	}
}

// Every lab scenario through AMI+ARI → daemon → NATS JetStream. Scenarios
// without SIP run concurrently; SIP ones (fixed SIPp ports) one by one.
func TestLabScenariosThroughDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: needs Docker")
	}
	ast := lab.StartAsterisk(t)
	ns := lab.StartNATS(t)

	cfg := adapter.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Log.Level = "debug"
	cfg.Mapping.PBXID = "lab"
	cfg.AMI.Address, cfg.AMI.Username, cfg.AMI.Password = ast.AMIAddr, ast.DaemonUser, ast.DaemonPass
	cfg.ARI.Enabled = true
	cfg.ARI.URL, cfg.ARI.Username, cfg.ARI.Password = ast.ARIURL, ast.DaemonUser, ast.DaemonPass
	cfg.NATS.URLs = []string{ns.ClientURL()}
	cfg.Reconnect.Initial = 100 * time.Millisecond

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := adapter.New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- d.Run(ctx) }()

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sch, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	box := &inbox{}
	_, err = nc.Subscribe("callstatus.>", func(m *nats.Msg) {
		var cs mapping.CallStatus
		if err := json.Unmarshal(m.Data, &cs); err != nil {
			t.Errorf("undecodable status: %v", err)
			return
		}
		if err := sch.Validate(m.Data); err != nil {
			t.Errorf("status breaks the schema: %v\n%s", err, m.Data)
		}
		if want := fmt.Sprintf("callstatus.lab.%s.%s", cs.Category, cs.Status); m.Subject != want {
			t.Errorf("subject %q, want %q", m.Subject, want)
		}
		box.mu.Lock()
		box.got = append(box.got, cs)
		box.raw = append(box.raw, m.Data)
		box.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()

	// Both sources up before any call.
	waitFor(t, 30*time.Second, "AMI and ARI connected", func() bool { return d.Stats().SourceUps.Load() >= 2 })

	drv, err := lab.NewDriver(ctx, lab.DriverConfig{Container: ast.Container, AMIAddr: ast.AMIAddr, ARIURL: ast.ARIURL, Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()

	var concurrent, sip []lab.Scenario
	for _, s := range lab.Scenarios() {
		if s.SIP {
			sip = append(sip, s)
		} else {
			concurrent = append(concurrent, s)
		}
	}

	// The grace the daemon may need after the last hangup: two-source
	// confirmation plus a sweep.
	settle := cfg.Mapping.ConfirmGrace + 10*time.Second
	used := map[int]bool{}

	// Phase 1: all non-SIP scenarios at once.
	g, gctx := errgroup.WithContext(ctx)
	want := 0
	for _, s := range concurrent {
		want += len(s.Calls)
		g.Go(func() error {
			rctx, cancel := context.WithTimeout(gctx, 2*time.Minute)
			defer cancel()
			if err := drv.Run(rctx, s.Name); err != nil {
				return fmt.Errorf("scenario %s: %w", s.Name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, settle, fmt.Sprintf("%d statuses", want), func() bool { return box.len() >= want })
	got := box.snapshot()
	for _, s := range concurrent {
		check(t, s.Name, s.Calls, got, used)
	}

	// Phase 2: SIP scenarios one at a time.
	for _, s := range sip {
		before := box.len()
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := drv.Run(rctx, s.Name)
		cancel()
		if err != nil {
			t.Errorf("scenario %s: %v", s.Name, err)
			continue
		}
		waitFor(t, settle, s.Name+" statuses", func() bool { return box.len() >= before+len(s.Calls) })
		got = box.snapshot()
		check(t, s.Name, s.Calls, got, used)
	}

	// Nothing unexpected: every status belongs to some scenario call.
	time.Sleep(time.Second)
	got = box.snapshot()
	for i, cs := range got {
		if !used[i] {
			t.Errorf("unexpected status: %s", describe(cs))
		}
	}

	// The stream holds exactly one message per call (dedupe by call id).
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, "CALLSTATUS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int(info.State.Msgs) != len(got) {
		t.Errorf("stream holds %d messages, %d statuses were published", info.State.Msgs, len(got))
	}
	ids := map[string]bool{}
	for _, cs := range got {
		if ids[cs.CallID] {
			t.Errorf("call id %s published twice", cs.CallID)
		}
		ids[cs.CallID] = true
	}

	cancel()
	if err := <-runDone; err != nil {
		t.Errorf("daemon: %v", err)
	}
	st2 := d.Stats()
	if st2.EventsDropped.Load() != 0 || st2.PublishDropped.Load() != 0 {
		t.Errorf("dropped: events %d statuses %d", st2.EventsDropped.Load(), st2.PublishDropped.Load())
	}
	t.Logf("%d statuses; events applied %d; queue max depth %d", len(got), st2.EventsApplied.Load(), st2.QueueMaxDepth.Load())
	_ = strings.TrimSpace
}
