package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/sync/errgroup"

	"github.com/callstatus/callstatus/lab"
)

// startNATSAt runs a JetStream server on a fixed port and store, so a test
// can stop it and bring the same server back.
func startNATSAt(t *testing.T, port int, store string) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: store, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatalf("nats: new server: %v", err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatalf("nats: not ready on port %d", port)
	}
	return ns
}

// NATS goes away during traffic and stays away across a daemon restart.
// The statuses of the calls that end meanwhile wait in the durable outbox
// (the first run's on disk through the restart), and all of them reach the
// stream once the server is back, each exactly once.
func TestBrokerOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: needs Docker")
	}
	t.Parallel()
	ast := lab.StartAsterisk(t)
	port, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	ns := startNATSAt(t, port, store)
	url := ns.ClientURL()
	cfg := faultConfig(t, ast, url)

	d1 := startRunning(t, cfg)
	d1.sourcesUp(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	drv := newDriver(ctx, t, ast)
	defer drv.Close()
	box := subscribeAll(t, url)
	runScenarios(ctx, t, drv, box, map[int]bool{}, "inbound-answered")

	run := func(names ...string) {
		t.Helper()
		g, gctx := errgroup.WithContext(ctx)
		for _, n := range names {
			g.Go(func() error { return drv.Run(gctx, n) })
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	emitted := func(d *running, n uint64) {
		t.Helper()
		waitFor(t, 20*time.Second, fmt.Sprintf("%d statuses emitted", n), func() bool { return d.d.Stats().StatusesEmitted.Load() >= n })
	}

	// Outage, first run: three calls end with nobody to publish to.
	ns.Shutdown()
	ns.WaitForShutdown()
	down := time.Now()
	run("outbound-connected", "queue-abandoned", "inbound-missed")
	emitted(d1, 4)
	if n := d1.d.Stats().Outbox.Depth.Load(); n != 3 {
		t.Errorf("outbox holds %d statuses during the outage, want 3", n)
	}
	d1.stop(t)
	if n := d1.d.Stats().PublishDropped.Load(); n != 0 {
		t.Errorf("first run dropped %d statuses", n)
	}

	// Still no NATS: the second run starts with three statuses waiting and
	// adds two.
	d2 := startRunning(t, cfg)
	d2.sourcesUp(t, 2)
	run("outbound-busy", "inbound-missed-busy")
	emitted(d2, 2)
	if n := d2.d.Stats().Outbox.Depth.Load(); n != 5 {
		t.Errorf("outbox holds %d statuses, want 5", n)
	}
	if n := d2.d.Stats().Publish.Published.Load(); n != 0 {
		t.Errorf("published %d with NATS down", n)
	}

	// NATS back, same port and store.
	startNATSAt(t, port, store)
	t.Logf("NATS was down for %s", time.Since(down).Round(100*time.Millisecond))
	back := time.Now()
	waitFor(t, 30*time.Second, "the backlog published", func() bool { return d2.d.Stats().Publish.Published.Load() >= 5 })
	t.Logf("backlog of 5 published %s after NATS came back", time.Since(back).Round(10*time.Millisecond))
	d2.stop(t)

	got := streamStatuses(t, url)
	onceEach(t, got)
	if len(got) != 6 {
		t.Errorf("stream holds %d statuses, want 6", len(got))
	}
	used := map[int]bool{}
	for _, name := range []string{"inbound-answered", "outbound-connected", "queue-abandoned", "inbound-missed", "outbound-busy", "inbound-missed-busy"} {
		s, _ := lab.Lookup(name)
		check(t, name, s.Calls, got, used)
	}
}
