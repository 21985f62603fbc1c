package publish

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// An edge daemon's embedded server forwards statuses to a hub over a leaf
// node connection: a subscriber on the hub sees what the edge publishes.
func TestEmbeddedLeafNodeForwardsToHub(t *testing.T) {
	leafPort := freePort(t)
	hub, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: leafPort}})
	if err != nil {
		t.Fatal(err)
	}
	go hub.Start()
	t.Cleanup(hub.Shutdown)
	if !hub.ReadyForConnections(5 * time.Second) {
		t.Fatal("hub not ready")
	}
	leafURL := fmt.Sprintf("nats-leaf://127.0.0.1:%d", leafPort)

	hc, err := nats.Connect(hub.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	sub, err := hc.SubscribeSync("callstatus.>")
	if err != nil {
		t.Fatal(err)
	}
	hc.Flush()

	edge, err := StartEmbedded(EmbeddedConfig{Host: "127.0.0.1", Port: -1, Listen: true, StoreDir: t.TempDir(),
		JetStreamDomain: "edge", LeafNode: LeafNodeConfig{URL: leafURL}}, "", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(edge.Shutdown)
	eventually(t, 5*time.Second, "leaf connection", func() bool { return edge.Server.NumLeafNodes() == 1 })

	cfg := testNATSConfig(true)
	nc, err := edge.Connect(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p, err := New(nc, cfg, "edge1", nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	// Interest propagates to the edge asynchronously: publish until the
	// hub sees it (the stream on the edge dedupes the repeats).
	cs := sampleStatus(3)
	var msg *nats.Msg
	eventually(t, 5*time.Second, "status on the hub", func() bool {
		if err := p.Publish(context.Background(), cs); err != nil {
			t.Fatal(err)
		}
		msg, err = sub.NextMsg(100 * time.Millisecond)
		return err == nil
	})
	if msg.Subject != "callstatus.pbx1.inbound.answered" || msg.Header.Get("Nats-Msg-Id") != cs.CallID {
		t.Errorf("hub got %s id %q", msg.Subject, msg.Header.Get("Nats-Msg-Id"))
	}
}

func TestEmbeddedPortInUse(t *testing.T) {
	e := startNATS(t, -1, t.TempDir())
	port := e.Server.Addr().(*net.TCPAddr).Port
	_, err := StartEmbedded(EmbeddedConfig{Host: "127.0.0.1", Port: port, Listen: true, StoreDir: t.TempDir()}, "", nil)
	want := fmt.Sprintf("nats-server: nats.embedded.port: listen tcp 127.0.0.1:%d: bind: address already in use (another NATS server? set nats.urls to use it)", port)
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}
