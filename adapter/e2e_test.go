package adapter

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/schema"
)

// collector reads every status the daemon published, from the start of
// its stream: a core subscription made after the daemon started would miss
// what it published first (it did, under load).
type collector struct {
	mu   sync.Mutex
	data [][]byte
}

func collect(t *testing.T, url string) *collector {
	t.Helper()
	c := &collector{}
	var nc *nats.Conn
	var err error
	eventually(t, 10*time.Second, "NATS at "+url, func() bool {
		nc, err = nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		return err == nil
	})
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var cons jetstream.Consumer
	eventually(t, 30*time.Second, "the stream CALLSTATUS", func() bool { // made by the daemon as it starts
		cons, err = js.OrderedConsumer(ctx, "CALLSTATUS", jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{"callstatus.*.*.*"}, DeliverPolicy: jetstream.DeliverAllPolicy})
		return err == nil
	})
	cc, err := cons.Consume(func(m jetstream.Msg) { c.mu.Lock(); c.data = append(c.data, m.Data()); c.mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return c
}

func (c *collector) statuses(t *testing.T) []mapping.CallStatus {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []mapping.CallStatus
	for _, b := range c.data {
		var cs mapping.CallStatus
		if err := json.Unmarshal(b, &cs); err != nil {
			t.Fatal(err)
		}
		out = append(out, cs)
	}
	return out
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.data)
}

// startDaemon runs a daemon until the test ends; stop cancels it and
// returns Run's error.
func startDaemon(t *testing.T, cfg Config) (d *Daemon, stop func() error) {
	t.Helper()
	d, err := New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() { runErr = d.Run(ctx); close(done) }()
	stop = func() error {
		cancel()
		select {
		case <-done:
			return runErr
		case <-time.After(15 * time.Second):
			return fmt.Errorf("daemon did not stop")
		}
	}
	t.Cleanup(func() { stop() })
	return d, stop
}

// A fake AMI server on loopback → the daemon → its embedded NATS → a
// subscriber; then Asterisk "restarts" and the daemon reconnects.
func TestRunAMIToEmbeddedNATS(t *testing.T) {
	t0 := time.Now().Add(-time.Minute).UTC()
	var stream strings.Builder
	for i := range 3 {
		stream.WriteString(amiInboundAnswered(fmt.Sprintf("1800000000.%d", i), t0.Add(time.Duration(i)*time.Second)))
	}
	f := startFakeAMI(t, "callstatus", "s3cret", stream.String())

	port := freePort(t)
	cfg := testDaemonConfig(t, port)
	cfg.AMI.Address, cfg.AMI.Username, cfg.AMI.Password = f.addr(), "callstatus", "s3cret"
	cfg.Reconnect = ReconnectConfig{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, StableAfter: time.Second}
	d, stop := startDaemon(t, cfg)
	c := collect(t, fmt.Sprintf("nats://127.0.0.1:%d", port))

	eventually(t, 10*time.Second, "3 statuses", func() bool { return c.count() >= 3 })
	sch, _ := schema.Load()
	for i, cs := range c.statuses(t) {
		want := fmt.Sprintf("lab:1800000000.%d", i)
		if cs.CallID != want || cs.Category != mapping.Inbound || cs.Status != mapping.Answered {
			t.Errorf("status %d: %s %s/%s, want %s inbound/answered", i, cs.CallID, cs.Category, cs.Status, want)
		}
	}
	c.mu.Lock()
	for _, b := range c.data {
		if err := sch.Validate(b); err != nil {
			t.Errorf("schema: %v", err)
		}
	}
	c.mu.Unlock()

	// Asterisk restarts: the connection drops, the next login gets a new
	// stream, and its call is published too.
	f.push(amiInboundAnswered("1800000100.1", time.Now().UTC()))
	f.dropAll()
	eventually(t, 10*time.Second, "status after reconnect", func() bool { return c.count() >= 4 })
	if f.loginCount() < 2 {
		t.Errorf("logins = %d", f.loginCount())
	}
	if d.Stats().SourceDowns.Load() < 1 || d.Stats().SourceUps.Load() < 2 {
		t.Errorf("source downs %d ups %d", d.Stats().SourceDowns.Load(), d.Stats().SourceUps.Load())
	}

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := c.count(); n != 4 {
		t.Errorf("%d statuses, want 4", n)
	}
}

// Wrong AMI credentials do not stop the daemon: it keeps retrying.
func TestRunKeepsRetryingOnAuthFailure(t *testing.T) {
	f := startFakeAMI(t, "callstatus", "right")
	cfg := testDaemonConfig(t, -1)
	cfg.NATS.Embedded.Listen = false
	cfg.AMI.Address, cfg.AMI.Username, cfg.AMI.Password = f.addr(), "callstatus", "wrong"
	cfg.Reconnect = ReconnectConfig{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond, StableAfter: time.Second}
	d, stop := startDaemon(t, cfg)
	eventually(t, 5*time.Second, "down once", func() bool { return d.Stats().SourceDowns.Load() == 1 })
	time.Sleep(100 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := d.Stats().SourceDowns.Load(); n != 1 {
		t.Errorf("SourceDowns = %d, want 1 (one state change, many retries)", n)
	}
}
