package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/adapter"
	"github.com/callstatus/callstatus/lab"
	"github.com/callstatus/callstatus/mapping"
)

// faultConfig is a daemon on both sources of ast, publishing to the NATS
// servers at urls, with short reconnect and retry schedules so faults heal
// within a test's patience.
func faultConfig(t *testing.T, ast *lab.Asterisk, urls ...string) adapter.Config {
	cfg := adapter.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Log.Level = "debug"
	cfg.Mapping = lab.Rules()
	cfg.AMI.Address, cfg.AMI.Username, cfg.AMI.Password = ast.AMIAddr, ast.DaemonUser, ast.DaemonPass
	cfg.AMI.DialTimeout = 3 * time.Second
	cfg.ARI.Enabled = true
	cfg.ARI.URL, cfg.ARI.Username, cfg.ARI.Password = ast.ARIURL, ast.DaemonUser, ast.DaemonPass
	cfg.ARI.DialTimeout = 3 * time.Second
	cfg.NATS.URLs = urls
	cfg.NATS.RetryMax = 500 * time.Millisecond
	cfg.NATS.PublishTimeout = 2 * time.Second
	cfg.NATS.FlushTimeout = 3 * time.Second
	cfg.Reconnect.Initial = 100 * time.Millisecond
	cfg.Reconnect.Max = time.Second
	return cfg
}

// running is one daemon started by a test.
type running struct {
	d      *adapter.Daemon
	cancel context.CancelFunc
	done   chan error
}

func startRunning(t *testing.T, cfg adapter.Config) *running {
	t.Helper()
	return startRunningLog(t, cfg, testLog(t))
}

// startRunningLog is startRunning with the daemon logging to log.
func startRunningLog(t *testing.T, cfg adapter.Config, log *slog.Logger) *running {
	t.Helper()
	d, err := adapter.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{d: d, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends the daemon (once) and reports a Run error.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.done == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("daemon: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("daemon did not stop within 30s")
	}
	r.done = nil
}

// sourcesUp waits until both sources connected n times in all.
func (r *running) sourcesUp(t *testing.T, n uint64) {
	t.Helper()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d source connections", n), func() bool { return r.d.Stats().SourceUps.Load() >= n })
}

// streamStatuses reads every message of the CALLSTATUS stream at url.
func streamStatuses(t *testing.T, url string) []mapping.CallStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("nats: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "CALLSTATUS")
	if err != nil {
		t.Fatalf("stream CALLSTATUS: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []mapping.CallStatus
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("stream message %d: %v", seq, err)
		}
		if strings.Count(m.Subject, ".") != 3 {
			continue // a per-user message (callstatus.<pbx>.user.<ext>.<outcome>)
		}
		var cs mapping.CallStatus
		if err := json.Unmarshal(m.Data, &cs); err != nil {
			t.Fatalf("stream message %d: %v", seq, err)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); id != cs.CallID {
			t.Errorf("stream message %d: Nats-Msg-Id %q, call id %q", seq, id, cs.CallID)
		}
		out = append(out, cs)
	}
	return out
}

// onceEach fails for every call id that occurs more than once.
func onceEach(t *testing.T, got []mapping.CallStatus) {
	t.Helper()
	seen := map[string]int{}
	for _, cs := range got {
		seen[cs.CallID]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("call %s is %d times in the stream", id, n)
		}
	}
}

// from picks the statuses of calls placed by caller.
func from(got []mapping.CallStatus, caller string) []mapping.CallStatus {
	var out []mapping.CallStatus
	for _, cs := range got {
		if cs.From.Number == caller {
			out = append(out, cs)
		}
	}
	return out
}

// originateInbound places an inbound call from caller to did that waits
// `patience` once answered, and returns at once.
func originateInbound(ctx context.Context, t *testing.T, drv *lab.Driver, caller, did string, patience int) {
	t.Helper()
	_, err := drv.AMI().Action(ctx, "Originate",
		lab.Field{Key: "Channel", Value: "Local/" + did + "@from-external/n"},
		lab.Field{Key: "Async", Value: "true"},
		lab.Field{Key: "Timeout", Value: "30000"},
		lab.Field{Key: "CallerID", Value: "<" + caller + ">"},
		lab.Field{Key: "Application", Value: "Wait"},
		lab.Field{Key: "Data", Value: fmt.Sprint(patience)})
	if err != nil {
		t.Fatalf("originate %s -> %s: %v", caller, did, err)
	}
}

// waitChannel polls until a channel whose name starts with prefix (and
// ends with suffix) is in state ("" for any).
func waitChannel(ctx context.Context, t *testing.T, drv *lab.Driver, prefix, suffix, state string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		chans, err := drv.AMI().Channels(ctx)
		if err != nil {
			t.Fatalf("list channels: %v", err)
		}
		for _, c := range chans {
			if strings.HasPrefix(c.Name, prefix) && strings.HasSuffix(c.Name, suffix) && (state == "" || c.State == state) {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no channel %s*%s in state %q within 20s", prefix, suffix, state)
}

func newDriver(ctx context.Context, t *testing.T, ast *lab.Asterisk) *lab.Driver {
	t.Helper()
	drv, err := lab.NewDriver(ctx, lab.DriverConfig{Container: ast.Container, AMIAddr: ast.AMIAddr, ARIURL: ast.ARIURL, Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	return drv
}

// runScenarios runs lab scenarios one after another and checks their
// statuses arrived, complete and right, in box.
func runScenarios(ctx context.Context, t *testing.T, drv *lab.Driver, box *inbox, used map[int]bool, names ...string) {
	t.Helper()
	for _, name := range names {
		s, ok := lab.Lookup(name)
		if !ok {
			t.Fatalf("no scenario %s", name)
		}
		before := box.len()
		if err := drv.Run(ctx, name); err != nil {
			t.Fatalf("scenario %s: %v", name, err)
		}
		waitFor(t, 20*time.Second, name+" statuses", func() bool { return box.len() >= before+len(s.Calls) })
		check(t, name, s.Calls, box.snapshot(), used)
	}
}

// subscribeAll collects every status published under callstatus.*.*.* at
// url (not the per-user messages).
func subscribeAll(t *testing.T, url string) *inbox {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("nats: %v", err)
	}
	t.Cleanup(nc.Close)
	box := &inbox{}
	if _, err := nc.Subscribe("callstatus.*.*.*", func(m *nats.Msg) {
		var cs mapping.CallStatus
		if err := json.Unmarshal(m.Data, &cs); err != nil {
			t.Errorf("undecodable status: %v", err)
			return
		}
		box.mu.Lock()
		box.got = append(box.got, cs)
		box.raw = append(box.raw, m.Data)
		box.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return box
}
