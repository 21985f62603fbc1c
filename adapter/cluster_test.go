package adapter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/publish"
)

// natsCluster is n embedded nats-servers on loopback, clustered over
// routes, each with JetStream and its own store.
type natsCluster struct {
	servers []*server.Server
}

func startCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	routePorts := make([]int, n)
	var routes []string
	for i := range n {
		routePorts[i] = freePort(t)
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", routePorts[i]))
	}
	c := &natsCluster{}
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       -1,
			NoSigs:     true,
			NoLog:      !testing.Verbose(),
			JetStream:  true,
			StoreDir:   t.TempDir(),
			Cluster:    server.ClusterOpts{Name: "callstatus-test", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		if testing.Verbose() {
			s.SetLoggerV2(publish.ServerLogger{Log: testLog(t).With("server", opts.ServerName)}, false, false, false)
		}
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		c.servers = append(c.servers, s)
	}
	for _, s := range c.servers {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("%s not ready", s.Name())
		}
	}
	// JetStream in a cluster needs a meta leader before any stream exists.
	eventually(t, 20*time.Second, "JetStream meta leader", func() bool {
		for _, s := range c.servers {
			if s.JetStreamIsLeader() {
				return true
			}
		}
		return false
	})
	return c
}

func (c *natsCluster) urls() []string {
	var out []string
	for _, s := range c.servers {
		out = append(out, s.ClientURL())
	}
	return out
}

// serverOf returns the server a client named name is connected to.
func (c *natsCluster) serverOf(name string) *server.Server {
	for _, s := range c.servers {
		if !s.Running() {
			continue
		}
		cz, err := s.Connz(&server.ConnzOptions{})
		if err != nil {
			continue
		}
		for _, ci := range cz.Conns {
			if ci.Name == name {
				return s
			}
		}
	}
	return nil
}

// streamLeader names the server leading the stream ("" if none).
func (c *natsCluster) streamLeader(stream string) string {
	for _, s := range c.servers {
		if s.Running() && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return s.Name()
		}
	}
	return ""
}

// makeStreamLeader moves the stream's leadership to want (a stepdown with
// a preferred placement).
func (c *natsCluster) makeStreamLeader(t *testing.T, stream string, want *server.Server) {
	t.Helper()
	if c.streamLeader(stream) == want.Name() {
		return
	}
	nc, err := nats.Connect(want.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := fmt.Sprintf(`{"placement":{"preferred":%q}}`, want.Name())
	if _, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, []byte(req), 5*time.Second); err != nil {
		t.Fatalf("stream leader stepdown: %v", err)
	}
	eventually(t, 10*time.Second, want.Name()+" leads the stream", func() bool { return c.streamLeader(stream) == want.Name() })
}

// statusCount is how many statuses the stream holds, not counting the
// per-user messages beside them.
func statusCount(ctx context.Context, st jetstream.Stream) (int, error) {
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("callstatus.*.*.*"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n, nil
}

// isStatus tells a status's subject (callstatus.<pbx>.<category>.<status>)
// from a per-user message's (callstatus.<pbx>.user.<ext>.<outcome>).
func isStatus(subject string) bool { return strings.Count(subject, ".") == 3 }

// streamIDs reads every status of the stream (through a running server),
// once want are in, and counts each Nats-Msg-Id.
func streamIDs(t *testing.T, url, stream string, want int) map[string]int {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var st jetstream.Stream
	eventually(t, 20*time.Second, fmt.Sprintf("%d statuses in %s", want, stream), func() bool {
		st, err = js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		n, err := statusCount(ctx, st)
		return err == nil && n >= want
	})
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// By sequence, retrying each read: right after a node loss the
	// stream may still be electing a leader.
	ids := map[string]int{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		var m *jetstream.RawStreamMsg
		eventually(t, 10*time.Second, fmt.Sprintf("stream message %d", seq), func() bool {
			m, err = st.GetMsg(ctx, seq)
			return err == nil
		})
		if isStatus(m.Subject) {
			ids[m.Header.Get(jetstream.MsgIDHeader)]++
		}
	}
	return ids
}

// checkExactlyOnce fails unless ids holds each of want once and nothing
// else.
func checkExactlyOnce(t *testing.T, ids map[string]int, want []string) {
	t.Helper()
	missing, dup := 0, 0
	for _, id := range want {
		switch n := ids[id]; {
		case n == 0:
			missing++
			if missing <= 5 {
				t.Errorf("call %s missing from the stream", id)
			}
		case n > 1:
			dup++
			if dup <= 5 {
				t.Errorf("call %s in the stream %d times", id, n)
			}
		}
	}
	if len(ids) != len(want) || missing > 0 || dup > 0 {
		t.Errorf("stream: %d distinct ids for %d calls; %d missing, %d duplicated", len(ids), len(want), missing, dup)
	}
}

// clusterDaemonConfig is a daemon publishing to external NATS servers
// into an R<replicas> stream, reading the fake PBX.
func clusterDaemonConfig(t *testing.T, urls []string, replicas int, pbx string) Config {
	cfg := testDaemonConfig(t, -1)
	cfg.NATS.URLs = urls
	cfg.NATS.Stream.Replicas = replicas
	cfg.NATS.PublishTimeout = 2 * time.Second
	cfg.NATS.RetryMax = 250 * time.Millisecond
	cfg.NATS.FlushTimeout = 10 * time.Second
	cfg.AMI.Address, cfg.AMI.Username, cfg.AMI.Password = pbx, "callstatus", "s3cret"
	cfg.Reconnect = ReconnectConfig{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, StableAfter: time.Second}
	return cfg
}

// waitAttached waits until n daemons have logged in for events and taken
// their snapshot, so no call starts before a daemon listens (the fake's
// snapshot is empty: a call begun before it would be ended by the
// snapshot, which real Asterisk would have listed).
func waitAttached(t *testing.T, p *fakePBX, n int) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("%d daemons attached", n), func() bool {
		l, s := p.counts()
		return l >= n && s >= n
	})
	time.Sleep(50 * time.Millisecond) // the snapshot's SnapshotDone reaches the engine
}

// A daemon publishes a steady flow of calls into an R3 stream on a
// three-node cluster; the node it is connected to is shut down mid-flow.
// It reconnects to another node and every call is in the stream exactly
// once: statuses published while the node died are retried (same
// Nats-Msg-Id, so a retry of a status that had been stored is dropped).
func TestClusterNodeLossLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: slow, not in make unit (-short)")
	}
	cl := startCluster(t, 3)
	pbx := startFakePBX(t, "callstatus", "s3cret")
	cfg := clusterDaemonConfig(t, cl.urls(), 3, pbx.addr())
	d, stop := startDaemon(t, cfg)
	waitAttached(t, pbx, 1)

	// 100 calls paced, then 200 in a burst with the node killed in the
	// middle of it, so publishes are in flight and queued when it dies.
	const calls, burstAt, killAt = 300, 100, 150
	var want []string
	var killed *server.Server
	for i := range calls {
		linked := fmt.Sprintf("19%08d.0", i) // unique ids: linked, linked+"1"
		want = append(want, "lab:"+linked)
		pbx.emit(amiInboundAnswered(linked, time.Now().UTC()))
		if i < burstAt {
			time.Sleep(5 * time.Millisecond)
		}
		if i == burstAt {
			eventually(t, 10*time.Second, "first statuses published", func() bool { return d.Stats().Publish.Published.Load() > 50 })
			// The harshest loss: the daemon's server also leads the
			// stream, so the kill forces a reconnect and an election.
			killed = cl.serverOf(cfg.NATS.Name)
			if killed == nil {
				t.Fatal("daemon's connection not found on any node")
			}
			cl.makeStreamLeader(t, cfg.NATS.Stream.Name, killed)
		}
		if i == killAt {
			t.Logf("shutting down %s (the daemon's server; stream leader %s) after %d published, %d queued",
				killed.Name(), cl.streamLeader(cfg.NATS.Stream.Name), d.Stats().Publish.Published.Load(), d.Stats().Outbox.Depth.Load())
			killed.Shutdown()
		}
	}
	eventually(t, 60*time.Second, "all statuses published", func() bool { return d.Stats().Publish.Published.Load() >= calls })
	if now := cl.serverOf(cfg.NATS.Name); now == nil || now == killed {
		t.Errorf("daemon not reconnected to another node (on %v)", now)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var live string
	for _, s := range cl.servers {
		if s != killed {
			live = s.ClientURL()
		}
	}
	ids := streamIDs(t, live, cfg.NATS.Stream.Name, calls)
	checkExactlyOnce(t, ids, want)
	t.Logf("published %d, publish retries %d, dropped %d", d.Stats().Publish.Published.Load(), d.Stats().Publish.Retries.Load(), d.Stats().PublishDropped.Load())

	// The stream really is replicated three ways.
	nc, err := nats.Connect(live)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(t.Context(), cfg.NATS.Stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Errorf("stream replicas %d, cluster %+v", info.Config.Replicas, info.Cluster)
	}
}

// activeActive runs two daemons on one fake PBX (the second sees every
// event lag after the first) publishing into one stream with the given
// duplicate window, and returns what the stream holds.
func activeActive(t *testing.T, urls []string, replicas, calls int, lag, window time.Duration) (ids map[string]int, want []string, published [2]uint64) {
	t.Helper()
	pbx := startFakePBX(t, "callstatus", "s3cret", 0, lag)
	var ds [2]*Daemon
	var stops [2]func() error
	for i := range ds {
		cfg := clusterDaemonConfig(t, urls, replicas, pbx.addr())
		cfg.NATS.Name = fmt.Sprintf("callstatusd-%d", i+1)
		cfg.NATS.Stream.Duplicates = window
		ds[i], stops[i] = startDaemon(t, cfg)
		waitAttached(t, pbx, i+1) // the first login gets no lag
	}
	for i := range calls {
		linked := fmt.Sprintf("18%08d.0", i)
		want = append(want, "lab:"+linked)
		pbx.emit(amiInboundAnswered(linked, time.Now().UTC()))
		time.Sleep(5 * time.Millisecond)
	}
	for i, d := range ds {
		eventually(t, 30*time.Second, fmt.Sprintf("daemon %d published all", i+1), func() bool { return d.Stats().Publish.Published.Load() >= uint64(calls) })
		if err := stops[i](); err != nil {
			t.Fatal(err)
		}
		published[i] = d.Stats().Publish.Published.Load()
	}
	// Both published everything; the stream decides what it keeps.
	nc, err := nats.Connect(urls[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(t.Context(), "CALLSTATUS")
	if err != nil {
		t.Fatal(err)
	}
	n, err := statusCount(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	return streamIDs(t, urls[0], "CALLSTATUS", n), want, published
}

// Two daemons on one PBX (active/active), the second 500 ms behind the
// first, publish every status twice; with the duplicate window (2 m by
// default) longer than that skew, the R3 stream holds each status once.
func TestClusterActiveActiveDedupes(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: slow, not in make unit (-short)")
	}
	cl := startCluster(t, 3)
	const calls = 100
	ids, want, pub := activeActive(t, cl.urls(), 3, calls, 500*time.Millisecond, publish.DefaultNATSConfig().Stream.Duplicates)
	checkExactlyOnce(t, ids, want)
	if pub[0] != calls || pub[1] != calls {
		t.Errorf("published %v, want %d each (dedupe is the stream's, not the daemons')", pub, calls)
	}
}

// The window must cover the skew: with a 200 ms window and the second
// daemon 1.5 s behind, its copies land as duplicates. This is why
// nats.stream.duplicates defaults to minutes, far above any plausible
// lag between two daemons reading the same PBX.
func TestActiveActiveWindowShorterThanSkewDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: slow, not in make unit (-short)")
	}
	e := startNATS(t, -1, t.TempDir())
	const calls = 20
	ids, _, _ := activeActive(t, []string{e.Server.ClientURL()}, 1, calls, 1500*time.Millisecond, 200*time.Millisecond)
	dups := 0
	for _, n := range ids {
		if n > 1 {
			dups++
		}
	}
	if dups == 0 {
		t.Errorf("no duplicates with a window shorter than the skew: the test does not exercise the window")
	}
	t.Logf("%d of %d calls stored twice", dups, calls)
}
