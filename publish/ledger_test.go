package publish

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/outbox"
)

func TestLedgerKey(t *testing.T) {
	tests := map[string]string{
		"pbx1:1764064800.12":      "pbx1.1764064800.12",
		"lab:lab-1795630020.72":   "lab.lab-1795630020.72",
		"1764064800.12":           "_.1764064800.12",
		"pbx 1:odd id*>.":         "pbx_1.odd_id__",
		"edge:asterisk-01-17.5.1": "edge.asterisk-01-17.5.1",
	}
	for in, want := range tests {
		if got := LedgerKey(in); got != want {
			t.Errorf("LedgerKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every acknowledged status lands in the CALLSTATUS_CALLS bucket under
// <pbx>.<linkedid>, with the bucket's TTL from the config; the ledger
// answers Seen and Get by call id.
func TestLedgerWrittenOnAck(t *testing.T) {
	e := startNATS(t, -1, t.TempDir())
	cfg := testNATSConfig(true)
	cfg.Ledger.TTL = 48 * time.Hour
	nc, err := e.Connect(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p, err := New(nc, cfg, "pbx1", nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ob := outbox.New(nil)
	ob.Push(sampleStatus(1))
	ob.Push(sampleStatus(2))
	ob.Close()
	if err := p.Run(context.Background(), ob); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	js, _ := jetstream.New(nc)
	l, err := BindLedger(ctx, js, "CALLSTATUS_CALLS")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{1, 2} {
		want := sampleStatus(i)
		got, ok, err := l.Get(ctx, want.CallID)
		if err != nil || !ok || got.CallID != want.CallID || got.Status != want.Status || got.Agent.Name != want.Agent.Name {
			t.Fatalf("Get(%s) = %+v, %v, %v", want.CallID, got, ok, err)
		}
	}
	if seen, err := l.Seen(ctx, "pbx1:1764064800.99"); err != nil || seen {
		t.Fatalf("Seen of an unpublished call = %v, %v", seen, err)
	}
	kv, err := js.KeyValue(ctx, "CALLSTATUS_CALLS")
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != 48*time.Hour || st.Values() != 2 {
		t.Fatalf("bucket TTL %s, %d values", st.TTL(), st.Values())
	}
	if _, err := kv.Get(ctx, "pbx1."+sampleStatus(1).LinkedID); err != nil {
		t.Fatalf("key <pbx>.<linkedid>: %v", err)
	}
}

// Seen, the backfill's view: pending until the bucket is open, then the
// bucket's answer; false (knows none) on core NATS.
func TestPublisherSeen(t *testing.T) {
	e := startNATS(t, -1, t.TempDir())
	for name, jet := range map[string]bool{"jetstream": true, "core": false} {
		t.Run(name, func(t *testing.T) {
			cfg := testNATSConfig(jet)
			nc, err := e.Connect(cfg, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			p, err := New(nc, cfg, "pbx1", nil, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			cs := sampleStatus(5)
			if _, err := p.Seen(context.Background(), cs.CallID); jet && !errors.Is(err, ErrLedgerPending) {
				t.Fatalf("before Run: %v, want ErrLedgerPending", err)
			}
			ob := outbox.New(nil)
			ob.Push(cs)
			ob.Close()
			if err := p.Run(context.Background(), ob); err != nil {
				t.Fatal(err)
			}
			seen, err := p.Seen(context.Background(), cs.CallID)
			if err != nil || seen != jet {
				t.Fatalf("after publishing: seen %v, %v; want %v", seen, err, jet)
			}
		})
	}
}

// A call merged into another (a transfer, a pickup) is found under its own
// linkedid too: its key holds an alias that Get and Raw follow.
func TestLedgerFindsMergedCalls(t *testing.T) {
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
	cs := sampleStatus(1)
	cs.MergedLinkedIDs = []string{"1764064801.40"}
	ob := outbox.New(nil)
	ob.Push(cs)
	ob.Close()
	if err := p.Run(context.Background(), ob); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	js, _ := jetstream.New(nc)
	l, err := BindLedger(ctx, js, "CALLSTATUS_CALLS")
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := l.Get(ctx, cs.PBX+":1764064801.40")
	if err != nil || !ok || got.CallID != cs.CallID {
		t.Fatalf("Get by the merged linkedid = %s, %v, %v; want %s", got.CallID, ok, err, cs.CallID)
	}
	if seen, err := l.Seen(ctx, cs.PBX+":1764064801.40"); err != nil || !seen {
		t.Fatalf("Seen by the merged linkedid = %v, %v (a backfill must not publish it again)", seen, err)
	}
}
