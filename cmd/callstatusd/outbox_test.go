package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstatus/callstatus/adapter"
	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/outbox"
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
