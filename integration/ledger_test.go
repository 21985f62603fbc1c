package integration

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/lab"
	"github.com/callstatus/callstatus/publish"
)

// Status by call id: every status the daemon published on the lab is in
// the KV bucket CALLSTATUS_CALLS under <pbx>.<linkedid>, the same JSON a
// subscriber got, so a screen pop that has the Linkedid reads it with
// `nats kv get` (or callstatusd get).
func TestStatusByCallIDFromBucket(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: needs Docker")
	}
	t.Parallel()
	ast := lab.StartAsterisk(t)
	port, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := faultConfig(t, ast)
	cfg.NATS.URLs = nil
	cfg.NATS.Embedded.Port = port
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	d := startRunning(t, cfg)
	d.sourcesUp(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	drv := newDriver(ctx, t, ast)
	defer drv.Close()
	box := subscribeAll(t, url)
	runScenarios(ctx, t, drv, box, map[int]bool{}, "inbound-answered", "queue-handled")

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, "CALLSTATUS_CALLS")
	if err != nil {
		t.Fatal(err)
	}
	box.mu.Lock()
	got, raw := box.got, box.raw
	box.mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("%d statuses, want 2", len(got))
	}
	for i, cs := range got {
		key := "lab." + cs.LinkedID // what a screen pop builds from the Linkedid
		var e jetstream.KeyValueEntry
		waitFor(t, 10*time.Second, "key "+key, func() bool { e, err = kv.Get(ctx, key); return err == nil })
		if string(e.Value()) != string(raw[i]) {
			t.Errorf("%s: bucket holds\n%s\nthe subscriber got\n%s", key, e.Value(), raw[i])
		}
		if publish.LedgerKey(cs.CallID) != key {
			t.Errorf("LedgerKey(%s) = %s, want %s", cs.CallID, publish.LedgerKey(cs.CallID), key)
		}
		t.Logf("%s → %s %s/%s", key, cs.CallID, cs.Category, cs.Status)
	}
}
