package integration

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/adapter"
	"github.com/callstatus/callstatus/lab"
	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/outbox"
	"github.com/callstatus/callstatus/publish"
)

// The daemon (with its embedded NATS server and JetStream store) stops
// while two answered calls and a queue call are up, and starts again on
// the same data directory. The new run lists the channels already up,
// follows those calls to their real end and publishes them marked
// joined_late. A status the first run had published and that the outbox
// still holds (a crash between the ack and the outbox head reaching disk)
// is sent again, and the stream drops it by Nats-Msg-Id.
func TestDaemonRestartMidCall(t *testing.T) {
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

	d1 := startRunning(t, cfg)
	d1.sourcesUp(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	drv := newDriver(ctx, t, ast)
	defer drv.Close()

	// One call ends while the first run is up.
	box := subscribeAll(t, url)
	used := map[int]bool{}
	runScenarios(ctx, t, drv, box, used, "inbound-answered")
	first := box.snapshot()

	// Three calls outlive it.
	for _, ext := range []string{"266", "267"} {
		if err := ast.AddTalkingPhone(ext, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	originateInbound(ctx, t, drv, "15550009101", "800266", 60)
	originateInbound(ctx, t, drv, "15550009102", "800267", 60)
	originateInbound(ctx, t, drv, "15550009103", "840002", 9) // gives up in the queue after 9 s
	waitChannel(ctx, t, drv, "Local/266@lab-phones-", ";1", "Up")
	waitChannel(ctx, t, drv, "Local/267@lab-phones-", ";1", "Up")
	waitChannel(ctx, t, drv, "Local/332@lab-phones-", ";1", "")
	d1.stop(t)
	if n := d1.d.Stats().StatusesEmitted.Load(); n != 1 {
		t.Errorf("first run emitted %d statuses, want 1", n)
	}

	// The crash window: the first call's status acknowledged, yet still
	// in the outbox when the daemon died.
	ob, err := outbox.Open(filepath.Join(cfg.DataDir, "outbox"), 16, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ob.Push(first[0])
	if err := ob.Release(); err != nil {
		t.Fatal(err)
	}

	restarted := time.Now()
	d2 := startRunning(t, cfg)
	d2.sourcesUp(t, 2)
	box2 := subscribeAll(t, url)
	waitFor(t, 40*time.Second, "the three calls joined late", func() bool {
		got := box2.snapshot()
		return len(from(got, "15550009101")) > 0 && len(from(got, "15550009102")) > 0 && len(from(got, "15550009103")) > 0
	})
	time.Sleep(time.Second)
	d2.stop(t)
	t.Logf("second run: %d statuses %s after its start", box2.len(), time.Since(restarted).Round(100*time.Millisecond))

	got := streamStatuses(t, reopenStore(t, cfg))
	onceEach(t, got)
	if len(got) != 4 {
		t.Errorf("stream holds %d statuses, want 4", len(got))
	}
	want := map[string]mapping.Status{"15550009101": mapping.Answered, "15550009102": mapping.Answered, "15550009103": mapping.Abandoned}
	for caller, status := range want {
		mine := from(got, caller)
		if len(mine) != 1 {
			t.Errorf("caller %s: %d statuses, want 1", caller, len(mine))
			continue
		}
		cs := mine[0]
		t.Logf("caller %s: %s joined_late=%v inferred=%q", caller, describe(cs), cs.JoinedLate, cs.Inferred)
		if !cs.JoinedLate || cs.Status != status {
			t.Errorf("caller %s: got %s joined_late=%v, want %s joined late", caller, describe(cs), cs.JoinedLate, status)
		}
	}
	if st := d2.d.Stats(); st.Publish.Published.Load() != 4 {
		t.Errorf("second run published %d (3 calls and the replayed one), want 4", st.Publish.Published.Load())
	}
}

// reopenStore starts the daemon's embedded server again, alone, to read
// the stream from its store once the daemon is gone.
func reopenStore(t *testing.T, cfg adapter.Config) string {
	t.Helper()
	emb, err := publish.StartEmbedded(cfg.NATS.Embedded, cfg.DataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	nc, err := nats.Connect(emb.Server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "CALLSTATUS")
	if err != nil {
		t.Fatal(err)
	}
	if w := st.CachedInfo().Config.Duplicates; w < time.Minute {
		t.Errorf("stream duplicate window %s is shorter than a daemon restart may take", w)
	}
	return emb.Server.ClientURL()
}
