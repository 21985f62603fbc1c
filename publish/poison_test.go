package publish

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/outbox"
)

// startLimitedNATS runs a JetStream server whose user "cs" may publish
// only inbound statuses (and use the JetStream API), with a 16 KiB
// max_payload.
func startLimitedNATS(t *testing.T) *server.Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true, JetStream: true, StoreDir: t.TempDir(),
		MaxPayload: 16 << 10,
		Users: []*server.User{{Username: "cs", Password: "pw", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{"callstatus.pbx1.inbound.>", "$JS.API.>"}},
		}}}}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// A status NATS can never take sits between two good ones: after
// park_after attempts it is parked in the outbox's dead letter (on disk,
// counted, logged once) and the next one goes. On core NATS the refusal
// arrives asynchronously; it must not count as published.
func TestPoisonStatusParked(t *testing.T) {
	outbound := func(i int) mapping.CallStatus { // a subject the user may not publish on
		cs := sampleStatus(i)
		cs.Category, cs.Status = mapping.Outbound, mapping.Connected
		return cs
	}
	huge := func(i int) mapping.CallStatus { // over max_payload
		cs := sampleStatus(i)
		for len(cs.Channels) < 2000 {
			cs.Channels = append(cs.Channels, fmt.Sprintf("PJSIP/trunk-%08d", len(cs.Channels)))
		}
		return cs
	}
	tests := map[string]struct {
		jetstream bool
		create    bool
		poison    func(int) mapping.CallStatus
		reason    string
		parked    int // of the 3 statuses
	}{
		"permission denied, jetstream": {true, true, outbound, "Permissions Violation for Publish", 1},
		"permission denied, core nats": {false, true, outbound, "Permissions Violation for Publish", 1},
		"over max_payload, jetstream":  {true, true, huge, "maximum payload exceeded", 1},
		"over max_payload, core nats":  {false, true, huge, "maximum payload exceeded", 1},
		"missing stream, create false": {true, false, sampleStatus, "not found and nats.stream.create is false", 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := startLimitedNATS(t)
			cfg := testNATSConfig(tc.jetstream)
			cfg.URLs = []string{srv.ClientURL()}
			cfg.User, cfg.Password = "cs", "pw"
			cfg.Stream.Create = tc.create
			cfg.ParkAfter = 2
			cfg.RetryMax = 20 * time.Millisecond
			nc, err := Connect(cfg, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			eventually(t, 5*time.Second, "connected", nc.IsConnected)
			sub, err := nats.Connect(srv.ClientURL(), nats.UserInfo("cs", "pw"))
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			var mu sync.Mutex
			var got []string
			if _, err := sub.Subscribe("callstatus.>", func(m *nats.Msg) {
				mu.Lock()
				got = append(got, m.Header.Get("Nats-Msg-Id"))
				mu.Unlock()
			}); err != nil {
				t.Fatal(err)
			}
			sub.Flush()

			stats := new(Stats)
			p, err := New(nc, cfg, "pbx1", stats, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			ob, err := outbox.Open(dir, 16, nil, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			defer ob.Release()
			bad := tc.poison(2)
			ob.Push(sampleStatus(1))
			ob.Push(bad)
			ob.Push(sampleStatus(3))
			ob.Close()
			if err := p.Run(context.Background(), ob); err != nil { // returns once the outbox is empty
				t.Fatal(err)
			}

			if ob.Parked() != tc.parked {
				t.Fatalf("%d parked, want %d", ob.Parked(), tc.parked)
			}
			if want := uint64(3 - tc.parked); stats.Published.Load() != want {
				t.Errorf("%d counted as published, want %d", stats.Published.Load(), want)
			}
			parked, err := outbox.ReadParked(dir)
			if err != nil || len(parked) != tc.parked {
				t.Fatalf("dead letter on disk: %d, %v", len(parked), err)
			}
			i := slices.IndexFunc(parked, func(p outbox.Parked) bool { return p.Status.CallID == bad.CallID })
			if i < 0 || parked[i].Attempts != 2 || !strings.Contains(parked[i].Reason, tc.reason) || parked[i].Subject == "" {
				t.Errorf("parked %+v", parked)
			}
			if tc.jetstream && tc.create && (p.LedgerBucket() != nil || stats.LedgerErrors.Load() != 1) {
				// The user may not write $KV.>: the first refused write
				// gives the ledger up, so it slows no later status.
				t.Errorf("ledger kept (%v) after %d refused writes", p.LedgerBucket() != nil, stats.LedgerErrors.Load())
			}
			if tc.parked == 1 {
				want := []string{sampleStatus(1).CallID, sampleStatus(3).CallID}
				eventually(t, 5*time.Second, "the two good statuses", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 })
				mu.Lock()
				if got[0] != want[0] || got[1] != want[1] {
					t.Errorf("subscriber got %v, want %v", got, want)
				}
				mu.Unlock()
			}
		})
	}
}
