package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/callstatus/callstatus/adapter"
	"github.com/callstatus/callstatus/lab"
	"github.com/callstatus/callstatus/lab/answerkey"
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

// check pairs each expected call with one unused status and compares the
// core of the answer key (answerkey.Core: category, status, reason,
// direction). Fields the key lists as known_wrong are the engine's open
// issues, checked against the recordings by the golden test, not here.
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
		if _, missing := c.KnownWrong[answerkey.Missing]; idx < 0 && missing {
			continue // the engine's open issue, checked by the golden test
		}
		if idx < 0 {
			t.Errorf("%s: no status for %q (%s → %s)", scenario, c.Description, c.From, c.To)
			continue
		}
		used[idx] = true
		cs := got[idx]
		doc, err := json.Marshal(cs)
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Compare(doc, answerkey.Core)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Wrong {
			t.Errorf("%s: %q: %s\n   got %s", scenario, c.Description, m, describe(cs))
		}
		if cs.Incomplete {
			t.Errorf("%s: %q published as incomplete: %s", scenario, c.Description, describe(cs))
		}
	}
}

// published is how many of calls the engine publishes a status for today
// (a call listed as missing in known_wrong has none).
func published(calls []lab.Call) int {
	n := 0
	for _, c := range calls {
		if _, missing := c.KnownWrong[answerkey.Missing]; !missing {
			n++
		}
	}
	return n
}

// checkExtras marks the statuses a scenario lists as known extras (the
// engine's open issues) as used.
func checkExtras(scenario lab.Scenario, got []mapping.CallStatus, used map[int]bool) {
	for _, e := range scenario.KnownExtra {
		for i, cs := range got {
			if used[i] {
				continue
			}
			if doc, err := json.Marshal(cs); err == nil && e.Matches(doc) {
				used[i] = true
				break
			}
		}
	}
}

// rig is one daemon under test with its own NATS server and subscriber.
type rig struct {
	name    string
	amiOnly bool
	d       *adapter.Daemon
	nc      *nats.Conn
	box     *inbox
	cancel  context.CancelFunc
	done    chan error
}

func startRig(t *testing.T, ast *lab.Asterisk, name string, withARI bool) *rig {
	t.Helper()
	ns := lab.StartNATS(t)
	cfg := adapter.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Log.Level = "debug"
	cfg.Mapping = lab.Rules()
	cfg.AMI.Address, cfg.AMI.Username, cfg.AMI.Password = ast.AMIAddr, ast.DaemonUser, ast.DaemonPass
	cfg.ARI.Enabled = withARI
	cfg.ARI.URL, cfg.ARI.Username, cfg.ARI.Password = ast.ARIURL, ast.DaemonUser, ast.DaemonPass
	cfg.NATS.URLs = []string{ns.ClientURL()}
	cfg.Reconnect.Initial = 100 * time.Millisecond

	d, err := adapter.New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{name: name, amiOnly: !withARI, d: d, box: &inbox{}, cancel: cancel, done: make(chan error, 1)}
	t.Cleanup(cancel)
	go func() { r.done <- d.Run(ctx) }()

	r.nc, err = nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.nc.Close)
	sch, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.nc.Subscribe("callstatus.*.*.*", func(m *nats.Msg) {
		var cs mapping.CallStatus
		if err := json.Unmarshal(m.Data, &cs); err != nil {
			t.Errorf("%s: undecodable status: %v", name, err)
			return
		}
		if err := sch.Validate(m.Data); err != nil {
			t.Errorf("%s: status breaks the schema: %v\n%s", name, err, m.Data)
		}
		if want := fmt.Sprintf("callstatus.lab.%s.%s", cs.Category, cs.Status); m.Subject != want {
			t.Errorf("%s: subject %q, want %q", name, m.Subject, want)
		}
		r.box.mu.Lock()
		r.box.got = append(r.box.got, cs)
		r.box.raw = append(r.box.raw, m.Data)
		r.box.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	r.nc.Flush()
	sources := uint64(1)
	if withARI {
		sources = 2
	}
	waitFor(t, 30*time.Second, name+": sources connected", func() bool { return d.Stats().SourceUps.Load() >= sources })
	return r
}

// expected adjusts a scenario's answer key to what this rig can know.
func (r *rig) expected(calls []lab.Call) []lab.Call {
	out := append([]lab.Call(nil), calls...)
	for i, c := range out {
		if r.amiOnly && c.AMIOnlyStatus != "" {
			out[i].Status, out[i].Reason = c.AMIOnlyStatus, ""
		}
	}
	return out
}

// Every lab scenario through two daemons at once, attached to the same
// Asterisk: one with AMI and ARI, one with AMI only, each publishing to its
// own JetStream. Scenarios without SIP run concurrently; SIP ones (fixed
// SIPp ports) one by one.
func TestLabScenariosThroughDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: needs Docker")
	}
	ast := lab.StartAsterisk(t)
	rigs := []*rig{startRig(t, ast, "ami+ari", true), startRig(t, ast, "ami-only", false)}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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

	// The grace a daemon may need after the last hangup: two-source
	// confirmation plus a sweep.
	settle := lab.Rules().ConfirmGrace + 10*time.Second
	used := make([]map[int]bool, len(rigs))
	for i := range used {
		used[i] = map[int]bool{}
	}
	waitAll := func(what string, n func(r *rig) int) {
		for _, r := range rigs {
			waitFor(t, settle, r.name+": "+what, func() bool { return r.box.len() >= n(r) })
		}
	}

	// Phase 1: all non-SIP scenarios at once.
	g, gctx := errgroup.WithContext(ctx)
	want := 0
	for _, s := range concurrent {
		want += published(s.Calls)
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
	waitAll(fmt.Sprintf("%d statuses", want), func(*rig) int { return want })
	for i, r := range rigs {
		got := r.box.snapshot()
		for _, s := range concurrent {
			check(t, r.name+"/"+s.Name, r.expected(s.Calls), got, used[i])
		}
		for _, s := range concurrent {
			checkExtras(s, got, used[i])
		}
	}

	// Phase 2: SIP scenarios one at a time.
	for _, s := range sip {
		before := make([]int, len(rigs))
		for i, r := range rigs {
			before[i] = r.box.len()
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := drv.Run(rctx, s.Name)
		cancel()
		if err != nil {
			t.Errorf("scenario %s: %v", s.Name, err)
			continue
		}
		for i, r := range rigs {
			waitFor(t, settle, r.name+": "+s.Name+" statuses", func() bool { return r.box.len() >= before[i]+published(s.Calls) })
			check(t, r.name+"/"+s.Name, r.expected(s.Calls), r.box.snapshot(), used[i])
			checkExtras(s, r.box.snapshot(), used[i])
		}
	}

	time.Sleep(time.Second)
	for i, r := range rigs {
		got := r.box.snapshot()
		// Nothing unexpected: every status belongs to some scenario call.
		for j, cs := range got {
			if !used[i][j] {
				t.Errorf("%s: unexpected status: %s", r.name, describe(cs))
			}
		}
		// The stream holds exactly one status per call (dedupe by call
		// id); the per-user messages beside them are not counted.
		js, _ := jetstream.New(r.nc)
		st, err := js.Stream(ctx, "CALLSTATUS")
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter("callstatus.*.*.*"))
		if err != nil {
			t.Fatal(err)
		}
		statuses := 0
		for _, n := range info.State.Subjects {
			statuses += int(n)
		}
		if statuses != len(got) {
			t.Errorf("%s: stream holds %d statuses, %d were published", r.name, statuses, len(got))
		}
		ids := map[string]bool{}
		for _, cs := range got {
			if ids[cs.CallID] {
				t.Errorf("%s: call id %s published twice", r.name, cs.CallID)
			}
			ids[cs.CallID] = true
		}
		r.cancel()
		if err := <-r.done; err != nil {
			t.Errorf("%s: daemon: %v", r.name, err)
		}
		st2 := r.d.Stats()
		if st2.EventsDropped.Load() != 0 || st2.PublishDropped.Load() != 0 {
			t.Errorf("%s: dropped: events %d statuses %d", r.name, st2.EventsDropped.Load(), st2.PublishDropped.Load())
		}
		t.Logf("%s: %d statuses; events applied %d; queue max depth %d", r.name, len(got), st2.EventsApplied.Load(), st2.QueueMaxDepth.Load())
	}
}
