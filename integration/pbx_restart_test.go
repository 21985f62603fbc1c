package integration

import (
	"context"
	"testing"
	"time"

	"github.com/callstatus/callstatus/lab"
	"github.com/callstatus/callstatus/mapping"
)

// Asterisk dies (SIGKILL: no Hangup reaches anybody) with two answered
// inbound calls and a caller waiting in a queue, then starts again. The
// daemon reconnects both sources with backoff, lists the channels (none
// survived), and finalizes the three calls with what it knew, marked
// incomplete and inferred from the snapshot. Calls after the restart
// classify normally, and the stream holds each call once.
func TestAsteriskRestartMidCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: needs Docker")
	}
	t.Parallel()
	ast := lab.StartRestartableAsterisk(t)
	ns := lab.StartNATS(t)
	url := ns.ClientURL()
	box := subscribeAll(t, url)
	d := startRunning(t, faultConfig(t, ast, url))
	d.sourcesUp(t, 2)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	drv := newDriver(ctx, t, ast)
	for _, ext := range []string{"268", "269"} {
		if err := ast.AddTalkingPhone(ext, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	originateInbound(ctx, t, drv, "15550009001", "800268", 120)
	originateInbound(ctx, t, drv, "15550009002", "800269", 120)
	originateInbound(ctx, t, drv, "15550009003", "840002", 120) // sales: nobody answers for 30 s
	waitChannel(ctx, t, drv, "Local/268@lab-phones-", ";1", "Up")
	waitChannel(ctx, t, drv, "Local/269@lab-phones-", ";1", "Up")
	waitChannel(ctx, t, drv, "Local/332@lab-phones-", ";1", "") // the queue rings its members
	time.Sleep(500 * time.Millisecond)
	if n := box.len(); n != 0 {
		t.Fatalf("%d statuses before the crash: %v", n, box.snapshot())
	}
	drv.Close()

	downs := d.d.Stats().SourceDowns.Load()
	killed := time.Now()
	if err := ast.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "both sources to notice", func() bool { return d.d.Stats().SourceDowns.Load() >= downs+2 })
	if err := ast.Restart(ctx, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("Asterisk back after %s", time.Since(killed).Round(100*time.Millisecond))
	d.sourcesUp(t, 4)
	if !waitFor(t, 20*time.Second, "the three dead calls", func() bool { return box.len() >= 3 }) {
		t.FailNow()
	}
	t.Logf("dead calls finalized %s after the kill", time.Since(killed).Round(100*time.Millisecond))

	got := box.snapshot()
	want := map[string]mapping.Status{"15550009001": mapping.Answered, "15550009002": mapping.Answered, "15550009003": mapping.Abandoned}
	for caller, status := range want {
		mine := from(got, caller)
		if len(mine) != 1 {
			t.Errorf("caller %s: %d statuses, want 1: %v", caller, len(mine), mine)
			continue
		}
		cs := mine[0]
		if cs.Status != status || !cs.Incomplete || cs.Inferred != "snapshot" {
			t.Errorf("caller %s: got %s inferred=%q, want %s, incomplete, inferred snapshot", caller, describe(cs), cs.Inferred, status)
		}
	}

	// Calls after the restart are whole again.
	drv = newDriver(ctx, t, ast)
	defer drv.Close()
	used := map[int]bool{}
	for i, cs := range got {
		if _, ok := want[cs.From.Number]; ok {
			used[i] = true
		}
	}
	runScenarios(ctx, t, drv, box, used, "inbound-answered", "queue-handled")

	time.Sleep(time.Second)
	d.stop(t)
	all := box.snapshot()
	if len(all) != 5 {
		t.Errorf("%d statuses published, want 5", len(all))
	}
	inStream := streamStatuses(t, url)
	if len(inStream) != 5 {
		t.Errorf("%d statuses in the stream, want 5", len(inStream))
	}
	onceEach(t, inStream)
	st := d.d.Stats()
	if st.EventsDropped.Load() != 0 || st.PublishDropped.Load() != 0 {
		t.Errorf("dropped: events %d statuses %d", st.EventsDropped.Load(), st.PublishDropped.Load())
	}
}
