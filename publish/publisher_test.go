package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/outbox"
)

func testNATSConfig(jet bool) NATSConfig {
	c := DefaultNATSConfig()
	c.JetStream = jet
	c.PublishTimeout = 500 * time.Millisecond
	c.RetryMax = 200 * time.Millisecond
	return c
}

func TestPublish(t *testing.T) {
	for name, jet := range map[string]bool{"jetstream": true, "core": false} {
		t.Run(name, func(t *testing.T) {
			e := startNATS(t, -1, t.TempDir())
			cfg := testNATSConfig(jet)
			nc, err := e.Connect(cfg, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			sub, err := nc.SubscribeSync("callstatus.>")
			if err != nil {
				t.Fatal(err)
			}
			p, err := New(nc, cfg, "default", nil, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			want := sampleStatus(1)
			if err := p.Publish(context.Background(), want); err != nil {
				t.Fatal(err)
			}
			msg, err := sub.NextMsg(2 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if msg.Subject != "callstatus.pbx1.inbound.answered" {
				t.Errorf("subject = %q", msg.Subject)
			}
			if got := msg.Header.Get("Nats-Msg-Id"); got != want.CallID {
				t.Errorf("Nats-Msg-Id = %q, want %q", got, want.CallID)
			}
			var got mapping.CallStatus
			if err := json.Unmarshal(msg.Data, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(t, got), normalize(t, want)) {
				t.Errorf("body = %s", msg.Data)
			}
		})
	}
}

// normalize round-trips through JSON so times compare by value.
func normalize(t *testing.T, cs mapping.CallStatus) string {
	t.Helper()
	b, err := json.Marshal(cs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSubjectUsesConfiguredPBXWhenStatusHasNone(t *testing.T) {
	p := &Publisher{cfg: NATSConfig{SubjectPrefix: "cs.eu"}, pbx: "site-1"}
	cs := sampleStatus(1)
	cs.PBX = ""
	cs.Category, cs.Status = mapping.Callcenter, mapping.Abandoned
	if got, want := p.Subject(cs), "cs.eu.site-1.callcenter.abandoned"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	cs.PBX = "a.b*"
	if got, want := p.Subject(cs), "cs.eu.a_b_.callcenter.abandoned"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
}

func streamMsgs(t *testing.T, nc *nats.Conn) uint64 {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "CALLSTATUS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestJetStreamDedupesByCallID(t *testing.T) {
	e := startNATS(t, -1, t.TempDir())
	cfg := testNATSConfig(true)
	nc, err := e.Connect(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p, err := New(nc, cfg, "pbx1", nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	cs := sampleStatus(7)
	for range 2 {
		if err := p.Publish(context.Background(), cs); err != nil {
			t.Fatal(err)
		}
	}
	if n := streamMsgs(t, nc); n != 1 {
		t.Errorf("stream holds %d messages, want 1", n)
	}
	info, err := mustStream(t, nc).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Duplicates != 2*time.Minute || !reflect.DeepEqual(info.Config.Subjects, []string{"callstatus.>"}) {
		t.Errorf("stream config: duplicates %s subjects %v", info.Config.Duplicates, info.Config.Subjects)
	}
}

func mustStream(t *testing.T, nc *nats.Conn) jetstream.Stream {
	t.Helper()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(context.Background(), "CALLSTATUS")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStreamNotCreatedWhenCreateIsFalse(t *testing.T) {
	e := startNATS(t, -1, t.TempDir())
	cfg := testNATSConfig(true)
	cfg.Stream.Create = false
	nc, err := e.Connect(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p, _ := New(nc, cfg, "pbx1", nil, nil)
	err = p.Publish(context.Background(), sampleStatus(1))
	if err == nil || err.Error() != `nats: stream "CALLSTATUS" not found and nats.stream.create is false` {
		t.Errorf("err = %v", err)
	}
}

// The server goes away mid-stream and comes back on the same port and
// store: every status queued meanwhile is published, none twice.
func TestPublisherRetriesUntilServerIsBack(t *testing.T) {
	for name, jet := range map[string]bool{"jetstream": true, "core": false} {
		t.Run(name, func(t *testing.T) {
			port, store := freePort(t), t.TempDir()
			e := startNATS(t, port, store)
			cfg := testNATSConfig(jet)
			cfg.URLs = []string{fmt.Sprintf("nats://127.0.0.1:%d", port)}
			nc, err := Connect(cfg, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			eventually(t, 5*time.Second, "connected", nc.IsConnected)

			// A second client on the same server records what arrives
			// (core mode has no stream to count).
			var mu sync.Mutex
			seen := map[string]int{}
			watch := func() {
				w, err := nats.Connect(cfg.URLs[0], nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(w.Close)
				_, err = w.Subscribe("callstatus.>", func(m *nats.Msg) {
					mu.Lock()
					seen[m.Header.Get("Nats-Msg-Id")]++
					mu.Unlock()
				})
				if err != nil {
					t.Fatal(err)
				}
				w.Flush()
			}
			watch()

			stats := new(Stats)
			p, err := New(nc, cfg, "pbx1", stats, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			ob := outbox.New(nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx, ob) }()
			defer func() { cancel(); <-done }()

			for i := range 3 {
				ob.Push(sampleStatus(i))
			}
			eventually(t, 5*time.Second, "first 3 published", func() bool { return stats.Published.Load() == 3 })

			e.Shutdown()
			eventually(t, 5*time.Second, "disconnected", func() bool { return !nc.IsConnected() })
			for i := 3; i < 8; i++ {
				ob.Push(sampleStatus(i))
			}
			time.Sleep(300 * time.Millisecond)
			if n := stats.Published.Load(); n != 3 {
				t.Fatalf("published %d while the server was down", n)
			}
			if stats.Retries.Load() == 0 {
				t.Errorf("no retries counted")
			}
			e2 := startNATS(t, port, store)
			_ = e2
			eventually(t, 10*time.Second, "all 8 published", func() bool { return stats.Published.Load() == 8 })
			if ob.Len() != 0 {
				t.Errorf("outbox still holds %d", ob.Len())
			}
			if jet {
				if n := streamMsgs(t, nc); n != 8 {
					t.Errorf("stream holds %d messages, want 8", n)
				}
				return
			}
			// Core: the watcher reconnects too; what it saw after the
			// restart must include the 5 queued statuses.
			eventually(t, 5*time.Second, "watcher saw the queued statuses", func() bool {
				mu.Lock()
				defer mu.Unlock()
				for i := 3; i < 8; i++ {
					if seen[sampleStatus(i).CallID] == 0 {
						return false
					}
				}
				return true
			})
		})
	}
}
