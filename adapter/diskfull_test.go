package adapter

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/ops"
	"github.com/callstatus/callstatus/outbox"
	"github.com/callstatus/callstatus/publish"
)

// fullDisk is the real file system until full is set; then writes,
// fsyncs and new files fail with ENOSPC, as on a full disk.
type fullDisk struct{ full atomic.Bool }

func (d *fullDisk) enospc(op, name string) error {
	return &os.PathError{Op: op, Path: name, Err: syscall.ENOSPC}
}
func (d *fullDisk) OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if _, err := os.Stat(name); err != nil && d.full.Load() && flag&os.O_CREATE != 0 {
		return nil, d.enospc("open", name)
	}
	return os.OpenFile(name, flag, perm)
}
func (d *fullDisk) WriteAt(f *os.File, b []byte, off int64) (int, error) {
	if d.full.Load() {
		return 0, d.enospc("write", f.Name())
	}
	return f.WriteAt(b, off)
}
func (d *fullDisk) Sync(f *os.File) error {
	if d.full.Load() {
		return d.enospc("fsync", f.Name())
	}
	return f.Sync()
}
func (d *fullDisk) Rename(from, to string) error { return os.Rename(from, to) }
func (d *fullDisk) SyncDir(dir string) error     { return outbox.OS.SyncDir(dir) }

// The disk under the outbox fills up while NATS is down too: the statuses
// wait in memory, /readyz says degraded and why, the error is counted on
// /metrics; once there is space and NATS is back, every status is
// published and the daemon is ready again.
func TestDaemonDiskFull(t *testing.T) {
	port, store := freePort(t), t.TempDir()
	ns := startNATS(t, port, store)
	cfg := testDaemonConfig(t, -1)
	cfg.NATS.URLs = []string{ns.Server.ClientURL()}
	cfg.NATS.RetryMax = 100 * time.Millisecond
	cfg.NATS.PublishTimeout = 500 * time.Millisecond
	d, err := New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	disk := &fullDisk{}
	d.outboxFS = disk
	src := &chanSource{evs: make(chan mapping.Event, 100)}
	d.sources = []namedSource{{"ami", src}}
	runUntilCleanup(t, d)
	st := d.Stats()
	eventually(t, 10*time.Second, "ready", func() bool { return d.Health().Readiness().Ready })

	call := func(i int) {
		for _, ev := range inboundAnswered(fmt.Sprintf("17100000%02d.1", i), time.Now().Add(-time.Minute)) {
			src.evs <- ev
		}
	}
	call(0)
	eventually(t, 10*time.Second, "first status published", func() bool { return st.Publish.Published.Load() == 1 })

	disk.full.Store(true)
	ns.Shutdown()
	for i := 1; i <= 3; i++ {
		call(i)
	}
	eventually(t, 10*time.Second, "3 statuses in memory only", func() bool { return st.Outbox.MemoryOnly.Load() == 3 })
	r := d.Health().Readiness()
	if r.Ready || len(r.Degraded) != 1 || !strings.HasPrefix(r.Degraded[0], "outbox: disk write failing") ||
		!strings.Contains(r.Degraded[0], "no space left on device") {
		t.Fatalf("readiness with the disk full: %+v", r)
	}
	if c := st.Counters(); c.OutboxErrors == 0 || c.OutboxMemory != 3 {
		t.Errorf("counters %+v", c)
	}

	disk.full.Store(false)
	startNATS(t, port, store) // NATS back: the held statuses go out
	call(4)                   // the next status takes those held in memory to disk first
	eventually(t, 20*time.Second, "all 5 published", func() bool { return st.Publish.Published.Load() == 5 })
	eventually(t, 5*time.Second, "ready again", func() bool {
		r := d.Health().Readiness()
		return r.Ready && r.Status == ops.StatusReady
	})
	nc, err := publish.Connect(cfg.NATS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(context.Background(), cfg.NATS.Stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := statusCount(context.Background(), s); err != nil || n != 5 {
		t.Fatalf("stream holds %d statuses (%v), want 5", n, err)
	}
	if st.Outbox.Dropped.Load() != 0 {
		t.Errorf("%d dropped", st.Outbox.Dropped.Load())
	}
}

// /readyz's outbox line: parked statuses, and a head waiting too long.
func TestOutboxProblem(t *testing.T) {
	ob := outbox.New(nil)
	now := time.Now()
	if p := outboxProblem(ob, time.Minute, now); p != "" {
		t.Fatalf("empty outbox: %q", p)
	}
	ob.Push(mapping.CallStatus{CallID: "pbx1:1.1"})
	if p := outboxProblem(ob, time.Minute, now.Add(30*time.Second)); p != "" {
		t.Fatalf("fresh head: %q", p)
	}
	if p := outboxProblem(ob, time.Minute, now.Add(2*time.Minute)); !strings.Contains(p, "the oldest unpublished status has waited 2m") {
		t.Fatalf("stale head: %q", p)
	}
	ob.Push(mapping.CallStatus{CallID: "pbx1:2.1"})
	ob.Park(outbox.Parked{Reason: "permission denied", Status: mapping.CallStatus{CallID: "pbx1:1.1"}})
	p := outboxProblem(ob, time.Minute, time.Now().Add(30*time.Second))
	if !strings.HasPrefix(p, "1 statuses parked in the dead letter") || strings.Contains(p, "waited") {
		t.Fatalf("after parking (the next status just became the head): %q", p)
	}
}
