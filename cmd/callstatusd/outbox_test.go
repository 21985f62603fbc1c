package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstatus/callstatus/adapter"
	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/outbox"
	"github.com/callstatus/callstatus/publish"
)

// outbox list shows what the daemon parked; outbox requeue puts it back
// in line (only while no daemon holds the data_dir) and empties the dead
// letter.
func TestOutboxListRequeue(t *testing.T) {
	dataDir := t.TempDir()
	dir := filepath.Join(dataDir, "outbox")
	ob, err := outbox.Open(dir, 16, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"pbx1:1.1", "pbx1:2.1", "pbx1:3.1"} {
		ob.Push(mapping.CallStatus{CallID: id, Category: mapping.Outbound, Status: mapping.Connected})
	}
	for range 2 {
		cs, _, _ := ob.Peek()
		ob.Park(outbox.Parked{ParkedAt: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), Reason: "permission denied", Attempts: 3,
			Subject: "callstatus.pbx1.outbound.connected", Status: cs})
	}
	if err := ob.Release(); err != nil {
		t.Fatal(err)
	}

	out, _, err := runArgs(t, "outbox", "list", "--data-dir", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "pbx1:1.1") || !strings.Contains(lines[2], "pbx1:2.1  callstatus.pbx1.outbound.connected  3         permission denied") {
		t.Fatalf("list:\n%s", out)
	}

	// A daemon holds the data_dir: requeue refuses and says why.
	l, err := adapter.LockDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := runArgs(t, "outbox", "requeue", "--data-dir", dataDir); err == nil || !strings.Contains(err.Error(), "is in use by pid") ||
		!strings.Contains(err.Error(), "stop the daemon first") {
		t.Fatalf("requeue with the lock held: %v", err)
	}
	l.Release()

	if _, _, err := runArgs(t, "outbox", "requeue", "--data-dir", dataDir, "pbx1:9.9"); err == nil || err.Error() != "outbox: pbx1:9.9 is not parked" {
		t.Fatalf("requeue of an unknown id: %v", err)
	}
	out, _, err = runArgs(t, "outbox", "requeue", "--data-dir", dataDir, "pbx1:2.1")
	if err != nil || out != "requeued 1: pbx1:2.1 (published at the next start)\n" {
		t.Fatalf("requeue: %q, %v", out, err)
	}
	parked, err := outbox.ReadParked(dir)
	if err != nil || len(parked) != 1 || parked[0].Status.CallID != "pbx1:1.1" {
		t.Fatalf("left parked: %+v, %v", parked, err)
	}
	ob, err = outbox.Open(dir, 16, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Release()
	var ids []string
	for ob.Len() > 0 {
		cs, _, _ := ob.Peek()
		ids = append(ids, cs.CallID)
		ob.Pop()
	}
	if strings.Join(ids, " ") != "pbx1:3.1 pbx1:2.1" {
		t.Fatalf("outbox after requeue: %v", ids)
	}
	if ob.Parked() != 1 {
		t.Fatalf("%d parked after reopening", ob.Parked())
	}
}

// callstatusd get prints a published call's status from the ledger
// bucket, by call id or by Linkedid alone, and says when it has none.
func TestGet(t *testing.T) {
	e, err := publish.StartEmbedded(publish.EmbeddedConfig{Host: "127.0.0.1", Port: -1, Listen: true, StoreDir: t.TempDir()}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	cfg := publish.DefaultNATSConfig()
	nc, err := e.Connect(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p, err := publish.New(nc, cfg, "pbx1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ob := outbox.New(nil)
	ob.Push(mapping.CallStatus{Schema: 1, CallID: "pbx1:1764064800.12", LinkedID: "1764064800.12", PBX: "pbx1",
		Category: mapping.Inbound, Status: mapping.Missed, Reason: "NOANSWER"})
	ob.Close()
	if err := p.Run(context.Background(), ob); err != nil {
		t.Fatal(err)
	}
	url := e.Server.ClientURL()
	t.Setenv("CALLSTATUS_MAPPING_PBX_ID", "pbx1") // a bare Linkedid is of mapping.pbx_id
	for _, id := range []string{"pbx1:1764064800.12", "1764064800.12"} {
		out, _, err := runArgs(t, "get", "--server", url, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		var cs mapping.CallStatus
		if err := json.Unmarshal([]byte(out), &cs); err != nil || cs.CallID != "pbx1:1764064800.12" || cs.Status != mapping.Missed {
			t.Fatalf("get %s printed %q (%v)", id, out, err)
		}
	}
	_, _, err = runArgs(t, "get", "--server", url, "pbx1:1.1")
	if err == nil || !strings.Contains(err.Error(), "get: no status for pbx1:1.1 in CALLSTATUS_CALLS (key pbx1.1.1)") {
		t.Fatalf("get of an unknown call: %v", err)
	}
}
