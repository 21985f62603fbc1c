package adapter

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

// faulty is the real engine with a bug planted: Apply panics on the first
// DialBegin of one call, and the first Sweep panics too.
type faulty struct {
	*mapping.Machine
	linked       string
	applied      atomic.Bool
	swept, armed atomic.Bool
}

func (f *faulty) Apply(e mapping.Event) []mapping.CallStatus {
	if e.Kind == mapping.DialBegin && e.Chan.LinkedID == f.linked && !f.applied.Swap(true) {
		var calls []int
		_ = calls[len(e.Chan.LinkedID)] // index out of range, as a real bug would
	}
	return f.Machine.Apply(e)
}

func (f *faulty) Sweep(now time.Time) []mapping.CallStatus {
	if f.armed.Load() && !f.swept.Swap(true) {
		panic("planted sweep bug")
	}
	return f.Machine.Sweep(now)
}

// A panic inside the engine does not stop the daemon: the call it was
// working on is published as incomplete (engine_error), the other calls as
// usual, and a panic in Sweep is survived too.
func TestEnginePanicIsSurvived(t *testing.T) {
	t0 := time.Now().Add(-time.Minute).UTC()
	var stream strings.Builder
	for i := range 3 {
		stream.WriteString(amiInboundAnswered(fmt.Sprintf("1800000000.%d", i), t0.Add(time.Duration(i)*time.Second)))
	}
	f := startFakeAMI(t, "callstatus", "s3cret", stream.String())
	port := freePort(t)
	cfg := testDaemonConfig(t, port)
	cfg.AMI.Address, cfg.AMI.Username, cfg.AMI.Password = f.addr(), "callstatus", "s3cret"
	cfg.Engine.SweepInterval = 50 * time.Millisecond

	var bug *faulty
	d, err := New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	d.newMachine = func(c mapping.Config) machine {
		bug = &faulty{Machine: mapping.New(c), linked: "1800000000.1"}
		return bug
	}
	stop := runDaemon(t, d)
	c := collect(t, fmt.Sprintf("nats://127.0.0.1:%d", port))

	eventually(t, 10*time.Second, "3 statuses", func() bool { return c.count() >= 3 })
	byID := map[string]mapping.CallStatus{}
	for _, cs := range c.statuses(t) {
		byID[cs.CallID] = cs
	}
	for i := range 3 {
		cs, ok := byID[fmt.Sprintf("lab:1800000000.%d", i)]
		switch {
		case !ok:
			t.Errorf("call %d not published", i)
		case i == 1 && (!cs.Incomplete || cs.Inferred != "engine_error"):
			t.Errorf("call 1: incomplete=%v inferred=%q, want incomplete engine_error", cs.Incomplete, cs.Inferred)
		case i != 1 && (cs.Incomplete || cs.Status != mapping.Answered):
			t.Errorf("call %d: %s incomplete=%v, want a complete answered call", i, cs.Status, cs.Incomplete)
		}
	}

	// A panic in Sweep: the daemon goes on and still publishes.
	bug.armed.Store(true)
	eventually(t, 10*time.Second, "the sweep panic", bug.swept.Load)
	f.push(amiInboundAnswered("1800000100.1", time.Now().UTC()))
	f.dropAll()
	eventually(t, 10*time.Second, "a status after the sweep panic", func() bool { return c.count() >= 4 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := c.count(); n != 4 {
		t.Errorf("%d statuses, want 4 (no call twice)", n)
	}
	if got := bug.Stats().Recovered; got != 2 {
		t.Errorf("recovered %d panics, want 2", got)
	}
}
