package publish

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/outbox"
)

// With nats.stream.create the stream exists as soon as the publisher
// runs, before any status, and an existing stream's duplicate window and
// max age follow the config while subjects an admin added stay.
func TestStreamAtStart(t *testing.T) {
	tests := map[string]struct {
		existing *jetstream.StreamConfig
		wantSubj []string
	}{
		"created when missing": {nil, []string{"callstatus.>"}},
		"updated when its settings differ": {
			&jetstream.StreamConfig{Name: "CALLSTATUS", Subjects: []string{"other.>"}, Duplicates: time.Minute, Storage: jetstream.FileStorage},
			[]string{"other.>", "callstatus.>"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := startNATS(t, -1, t.TempDir())
			cfg := testNATSConfig(true)
			cfg.Stream.Duplicates, cfg.Stream.MaxAge = 3*time.Minute, time.Hour
			nc, err := e.Connect(cfg, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			if tc.existing != nil {
				if _, err := js.CreateStream(context.Background(), *tc.existing); err != nil {
					t.Fatal(err)
				}
			}
			p, err := New(nc, cfg, "pbx1", nil, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			ob := outbox.New(nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx, ob) }()
			defer func() { cancel(); <-done }()

			var got jetstream.StreamConfig
			eventually(t, 5*time.Second, "stream with the configured settings", func() bool {
				s, err := js.Stream(context.Background(), "CALLSTATUS")
				if err != nil {
					return false
				}
				got = s.CachedInfo().Config
				return got.Duplicates == 3*time.Minute
			})
			if got.MaxAge != time.Hour || len(got.Subjects) != len(tc.wantSubj) {
				t.Fatalf("stream config %+v", got)
			}
			for i := range got.Subjects {
				if got.Subjects[i] != tc.wantSubj[i] {
					t.Fatalf("subjects %v, want %v", got.Subjects, tc.wantSubj)
				}
			}
			if ob.Len() != 0 {
				t.Fatal("a status was published")
			}
		})
	}
}

// NATS comes up after the daemon: the idle publisher makes the stream and
// the ledger bucket as soon as it connects, still before any call.
func TestStreamWhenNATSComesUpLater(t *testing.T) {
	port, store := freePort(t), t.TempDir()
	cfg := testNATSConfig(true)
	cfg.URLs = []string{fmt.Sprintf("nats://127.0.0.1:%d", port)}
	nc, err := Connect(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p, err := New(nc, cfg, "pbx1", nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ob := outbox.New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, ob) }()
	defer func() { cancel(); <-done }()

	startNATS(t, port, store)
	js, _ := jetstream.New(nc)
	eventually(t, 15*time.Second, "stream and ledger bucket", func() bool {
		_, err1 := js.Stream(context.Background(), "CALLSTATUS")
		_, err2 := js.KeyValue(context.Background(), "CALLSTATUS_CALLS")
		return err1 == nil && err2 == nil
	})
	if ob.Len() != 0 || p.stats.Published.Load() != 0 {
		t.Fatal("a status was published")
	}
}
