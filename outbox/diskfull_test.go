package outbox

import (
	"encoding/json"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fullDisk is the real file system until full is set; then it fails
// like a full disk: a write stores half its bytes and returns ENOSPC, a new
// file cannot be created, fsync fails.
type fullDisk struct {
	full    atomic.Bool
	refused atomic.Int64 // writes, fsyncs and creations refused
}

func (d *fullDisk) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if d.full.Load() && flag&os.O_CREATE != 0 {
		if _, err := os.Stat(name); err != nil {
			d.refused.Add(1)
			return nil, &os.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
		}
	}
	return os.OpenFile(name, flag, perm)
}

func (d *fullDisk) WriteAt(f *os.File, b []byte, off int64) (int, error) {
	if d.full.Load() {
		d.refused.Add(1)
		n, _ := f.WriteAt(b[:len(b)/2], off)
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.WriteAt(b, off)
}

func (d *fullDisk) Sync(f *os.File) error {
	if d.full.Load() {
		d.refused.Add(1)
		return &os.PathError{Op: "fsync", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.Sync()
}

func (d *fullDisk) Rename(from, to string) error { return os.Rename(from, to) }
func (d *fullDisk) SyncDir(dir string) error     { return OS.SyncDir(dir) }

// The disk fills up: statuses wait in memory up to the memory bound, the
// rest are dropped and counted, the outbox says what is wrong; once the
// disk takes writes again everything held goes to disk in order, the
// torn writes were cut, and a restart finds exactly the unacknowledged
// statuses.
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	disk := &fullDisk{}
	stats := new(Stats)
	ob, err := OpenWith(disk, dir, 4, stats, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := json.Marshal(sampleStatus(0))
	if err != nil {
		t.Fatal(err)
	}
	ob.store.segMax = int64(5 * len(rec) / 2) // two records a segment: rotations while full, too
	for i := 0; i < 3; i++ {
		ob.Push(sampleStatus(i))
	}
	ob.Pop() // status 0 acknowledged

	disk.full.Store(true)
	for i := 3; i < 9; i++ { // 4 held in memory, 2 dropped
		ob.Push(sampleStatus(i))
	}
	ob.Pop() // status 1 acknowledged while the head cannot be written
	if disk.refused.Load() == 0 {
		t.Fatal("nothing reached the full disk")
	}
	if got := stats.MemoryOnly.Load(); got != 4 {
		t.Errorf("memory only = %d, want 4", got)
	}
	if got := stats.Dropped.Load(); got != 2 {
		t.Errorf("dropped = %d, want 2", got)
	}
	if stats.Errors.Load() == 0 {
		t.Error("no error counted")
	}
	if p := ob.Problem(); !strings.Contains(p, "no space left on device") || !strings.Contains(p, "4 statuses in memory only") {
		t.Errorf("problem = %q", p)
	}
	if ob.Len() != 5 || ob.Durable() {
		t.Errorf("len %d durable %v, want 5 not durable", ob.Len(), ob.Durable())
	}

	disk.full.Store(false)
	ob.Push(sampleStatus(20))
	if got := stats.MemoryOnly.Load(); got != 0 {
		t.Errorf("memory only after space came back = %d", got)
	}
	eventually(t, 5*time.Second, "the outbox healthy again (head written)", func() bool { return ob.Problem() == "" })
	if !ob.Durable() {
		t.Error("not durable after space came back")
	}
	if err := ob.Release(); err != nil {
		t.Fatal(err)
	}

	ob = openTestOutbox(t, dir, 16, 0)
	defer ob.Release()
	want := append(wantIDs(2, 7), sampleStatus(20).CallID)
	sameIDs(t, drainIDs(t, ob, 100), want)
}

// The head is replaced atomically and carries a checksum: a head that
// does not check out restarts at the oldest segment (statuses may go out
// twice, which the stream dedupes; none is lost).
func TestHeadChecksum(t *testing.T) {
	dir := t.TempDir()
	ob := openTestOutbox(t, dir, 16, 0)
	for i := 0; i < 3; i++ {
		ob.Push(sampleStatus(i))
	}
	ob.Pop()
	if err := ob.Release(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dir + "/head")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := parseHead(b); !ok || len(strings.Fields(string(b))) != 3 {
		t.Fatalf("head %q", b)
	}
	if _, err := os.Stat(dir + "/head.tmp"); !os.IsNotExist(err) {
		t.Errorf("head.tmp left behind: %v", err)
	}
	ob = openTestOutbox(t, dir, 16, 0)
	sameIDs(t, drainIDs(t, ob, 0), nil)
	if cs, _, _ := ob.Peek(); cs.CallID != sampleStatus(1).CallID {
		t.Fatalf("first after restart %s", cs.CallID)
	}
	ob.Release()

	bad := []byte(strings.Replace(string(b), " ", " 9", 1)) // offset changed, sum not
	if err := os.WriteFile(dir+"/head", bad, 0o640); err != nil {
		t.Fatal(err)
	}
	ob = openTestOutbox(t, dir, 16, 0)
	defer ob.Release()
	sameIDs(t, drainIDs(t, ob, 100), wantIDs(0, 3))
}
