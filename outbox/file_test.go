package outbox

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func openTestOutbox(t *testing.T, dir string, memMax int, segMax int64) *Outbox {
	t.Helper()
	ob, err := Open(dir, memMax, nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if segMax > 0 {
		ob.store.segMax = segMax
	}
	return ob
}

// drainIDs pops everything and returns the call ids in order.
func drainIDs(t *testing.T, ob *Outbox, n int) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		cs, ok, _ := ob.Peek()
		if !ok {
			break
		}
		out = append(out, cs.CallID)
		ob.Pop()
	}
	return out
}

func wantIDs(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, sampleStatus(i).CallID)
	}
	return out
}

func sameIDs(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d statuses, want %d (first got %v)", len(got), len(want), got[:min(len(got), 3)])
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("status %d is %s, want %s", i, got[i], want[i])
		}
	}
}

// The durable outbox keeps order and what was not popped across a
// restart, holds at most its memory bound decoded (the rest on disk),
// rolls over segments and removes the acknowledged ones.
func TestDurableOutbox(t *testing.T) {
	tests := map[string]struct {
		memMax          int
		segMax          int64
		push, popBefore int
	}{
		"all in memory":                        {memMax: 100, push: 10, popBefore: 3},
		"spilled to disk":                      {memMax: 4, push: 50, popBefore: 10},
		"spilled over many segments":           {memMax: 3, segMax: 4096, push: 60, popBefore: 25},
		"everything acknowledged before close": {memMax: 8, segMax: 4096, push: 30, popBefore: 30},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ob := openTestOutbox(t, dir, tc.memMax, tc.segMax)
			for i := 0; i < tc.push; i++ {
				ob.Push(sampleStatus(i))
			}
			if got := ob.Len(); got != tc.push {
				t.Fatalf("Len %d, want %d", got, tc.push)
			}
			if len(ob.store.cache) > tc.memMax {
				t.Fatalf("%d statuses in memory, bound %d", len(ob.store.cache), tc.memMax)
			}
			sameIDs(t, drainIDs(t, ob, tc.popBefore), wantIDs(0, tc.popBefore))
			if err := ob.Release(); err != nil {
				t.Fatal(err)
			}

			ob = openTestOutbox(t, dir, tc.memMax, tc.segMax)
			defer ob.Release()
			if got := ob.Len(); got != tc.push-tc.popBefore {
				t.Fatalf("after reopen Len %d, want %d", got, tc.push-tc.popBefore)
			}
			// New statuses queue behind the old ones.
			ob.Push(sampleStatus(1000))
			want := append(wantIDs(tc.popBefore, tc.push), sampleStatus(1000).CallID)
			sameIDs(t, drainIDs(t, ob, tc.push+1), want)
			ob.store.sync()
			segs, _ := ob.store.segments()
			if len(segs) > 1 {
				t.Errorf("%d segments left after everything was acknowledged", len(segs))
			}
		})
	}
}

// A crash in the middle of a write leaves a torn last line: the next start
// cuts it and keeps every whole record.
func TestDurableOutboxTornTail(t *testing.T) {
	dir := t.TempDir()
	ob := openTestOutbox(t, dir, 10, 0)
	for i := 0; i < 3; i++ {
		ob.Push(sampleStatus(i))
	}
	seg := ob.store.w.Name()
	ob.Release()
	f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"schema":1,"call_id":"pbx1:torn`)
	f.Close()

	ob = openTestOutbox(t, dir, 10, 0)
	ob.Push(sampleStatus(3))
	sameIDs(t, drainIDs(t, ob, 10), wantIDs(0, 4))
	ob.Release()
}

// Popped statuses are remembered within a sync interval: the head file
// moves and no segment behind it stays.
func TestDurableOutboxHeadPersisted(t *testing.T) {
	dir := t.TempDir()
	ob := openTestOutbox(t, dir, 2, 2048)
	defer ob.Release()
	for i := 0; i < 20; i++ {
		ob.Push(sampleStatus(i))
	}
	drainIDs(t, ob, 15)
	time.Sleep(3 * syncEvery)
	b, err := os.ReadFile(filepath.Join(dir, headFile))
	if err != nil || len(b) == 0 {
		t.Fatalf("head file: %q, %v", b, err)
	}
	segs, _ := ob.store.segments()
	if segs[0] != ob.store.head.seg {
		t.Errorf("first segment %d, head in %d: acknowledged segments left", segs[0], ob.store.head.seg)
	}
}
