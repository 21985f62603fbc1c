package adapter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/ops"
)

// A second daemon on the same data_dir is refused at once, naming the
// first one's pid, whatever its NATS setup: here it asks for the embedded
// server on the very port the first one listens on, so it would fail on
// that port (or reopen the outbox) if the lock were not taken first.
func TestSecondDaemonOnDataDirRefused(t *testing.T) {
	port := freePort(t)
	cfg := testDaemonConfig(t, port)
	d1, err := New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	d1.sources = []namedSource{{"ami", &chanSource{evs: make(chan mapping.Event)}}}
	_, stop := runUntilCleanup(t, d1)
	eventually(t, 10*time.Second, "first daemon connected to its NATS", func() bool {
		return d1.Health().Readiness().Components["nats"].State == ops.StateConnected
	})

	for name, edit := range map[string]func(*Config){
		"same embedded port": func(*Config) {},
		"external NATS":      func(c *Config) { c.NATS.URLs = []string{"nats://127.0.0.1:1"} },
		"no listen":          func(c *Config) { c.NATS.Embedded.Listen = false },
	} {
		t.Run(name, func(t *testing.T) {
			cfg2 := cfg
			edit(&cfg2)
			d2, err := New(cfg2, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			err = d2.Run(context.Background()) // returns at once: no cancel needed
			want := fmt.Sprintf("data_dir %s is in use by pid %d", cfg.DataDir, os.Getpid())
			var inUse *InUseError
			if err == nil || err.Error() != want || !errors.As(err, &inUse) {
				t.Fatalf("second daemon: %v, want %q", err, want)
			}
		})
	}

	// Once the first daemon stopped, the directory is free again.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	l, err := LockDir(cfg.DataDir)
	if err != nil {
		t.Fatalf("after the first daemon stopped: %v", err)
	}
	l.Release()
}

// The outbox directory is locked too when it lies outside data_dir.
func TestLockStateOutboxOutsideDataDir(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Outbox.Dir = t.TempDir(), t.TempDir()
	release, err := cfg.LockState()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	other := DefaultConfig()
	other.DataDir, other.Outbox.Dir = t.TempDir(), cfg.Outbox.Dir
	if _, err := other.LockState(); err == nil || !strings.Contains(err.Error(), cfg.Outbox.Dir+" is in use by pid") {
		t.Fatalf("second lock of the outbox dir: %v", err)
	}
	inside := DefaultConfig()
	inside.DataDir = t.TempDir()
	inside.Outbox.Dir = inside.DataDir + "/outbox"
	r2, err := inside.LockState()
	if err != nil {
		t.Fatal(err)
	}
	r2()
}

// runUntilCleanup runs d until stop or the end of the test.
func runUntilCleanup(t *testing.T, d *Daemon) (done <-chan error, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- d.Run(ctx) }()
	var res error
	stopped := false
	stop = func() error {
		if stopped {
			return res
		}
		stopped = true
		cancel()
		select {
		case res = <-ch:
		case <-time.After(15 * time.Second):
			res = errors.New("daemon did not stop")
		}
		return res
	}
	t.Cleanup(func() { stop() })
	return ch, stop
}

// The stream exists right after start, before any call: a consumer that
// binds a durable consumer first does not get "stream not found".
func TestDaemonCreatesStreamAtStart(t *testing.T) {
	port := freePort(t)
	cfg := testDaemonConfig(t, port)
	d, err := New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	d.sources = []namedSource{{"ami", &chanSource{evs: make(chan mapping.Event)}}}
	runUntilCleanup(t, d)

	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	eventually(t, 10*time.Second, "a durable consumer bound to the stream", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateConsumer(ctx, cfg.NATS.Stream.Name, jetstream.ConsumerConfig{Durable: "crm"})
		return err == nil
	})
	if n := d.Stats().StatusesEmitted.Load(); n != 0 {
		t.Fatalf("%d statuses emitted: the stream must not wait for a call", n)
	}
}
