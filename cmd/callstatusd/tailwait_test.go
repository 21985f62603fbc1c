package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/callstatus/callstatus/publish"

	"github.com/callstatus/callstatus/internal/testkit"
)

// tail started before the daemon waits for its NATS server.
func TestTailWaitsForServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut testkit.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"tail", "--server", url, "--json"}, &out, &errOut) }()

	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(errOut.String(), "waiting for NATS") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(errOut.String(), "tail: waiting for NATS at "+url) {
		t.Fatalf("stderr %q", errOut.String())
	}
	e, err := publish.StartEmbedded(publish.EmbeddedConfig{Host: "127.0.0.1", Port: port, Listen: true, StoreDir: t.TempDir()}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	deadline = time.Now().Add(10 * time.Second)
	for out.String() == "" && time.Now().Before(deadline) {
		nc.Publish("callstatus.lab.inbound.answered", []byte(`{"call_id":"lab:1"}`))
		nc.Flush()
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(out.String(), "\n"); first != `{"call_id":"lab:1"}` {
		t.Errorf("got %q", out.String())
	}
}
