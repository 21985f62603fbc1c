package integration

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/callstatus/callstatus/lab"
)

// cutProxy forwards TCP to target; while cut, it drops every connection
// and refuses new ones (closes them at once), like a network outage.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// Only AMI, and it drops mid-traffic: a call up when it drops ends during
// the outage, others start and end inside it. After the reconnect the
// snapshot ends the first (live engine), the backfill reports the others,
// and no call is published twice, on core NATS (no ledger, no dedupe).
func TestBackfillAfterAMIDrop(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: needs Docker")
	}
	t.Parallel()
	ast := lab.StartAsterisk(t)
	proxy := startCutProxy(t, ast.AMIAddr)
	port, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := faultConfig(t, ast)
	cfg.ARI.Enabled = false
	cfg.AMI.Address = proxy.addr()
	cfg.NATS.URLs = nil
	cfg.NATS.Embedded.Port = port
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	qlog := filepath.Join(t.TempDir(), "queue_log")
	cfg.Backfill.Enabled = true
	cfg.Backfill.DSN = ast.PGDSN
	cfg.Backfill.QueueLog = qlog
	cfg.Backfill.Settle = 2 * time.Second
	cfg.Backfill.RetryMax = time.Second
	// Core NATS: no ledger bucket, no dedupe window. Only the daemon's
	// memory of the calls it finished keeps the call up at the cut from
	// going out twice.
	cfg.NATS.JetStream = false

	d := startRunning(t, cfg)
	d.sourcesUp(t, 1)
	box := subscribeAll(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	drv := newDriver(ctx, t, ast)
	defer drv.Close()

	// Up when AMI drops, ends during the outage.
	if err := ast.AddTalkingPhone("268", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	originateInbound(ctx, t, drv, "15550009201", "800268", 3)
	waitChannel(ctx, t, drv, "Local/268@lab-phones-", ";1", "Up")
	proxy.setCut(true)
	names := []string{"outbound-connected", "inbound-missed-busy", "queue-handled", "queue-timeout"}
	errs := make(chan error, len(names))
	for _, n := range names {
		go func() { errs <- drv.Run(ctx, n) }()
	}
	var calls []lab.Call
	for _, n := range names {
		s, _ := lab.Lookup(n)
		calls = append(calls, s.Calls...)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := drv.WaitIdle(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	q, err := ast.Exec("cat", lab.QueueLogPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(qlog, []byte(q), 0o644); err != nil {
		t.Fatal(err)
	}
	proxy.setCut(false)
	waitFor(t, 60*time.Second, "every call of the outage", func() bool { return box.len() >= len(calls)+1 })
	time.Sleep(cfg.Backfill.Settle + 2*time.Second) // nothing more may come
	got := box.snapshot()
	onceEach(t, got)
	live := from(got, "15550009201")
	if len(live) != 1 || live[0].Backfilled {
		t.Errorf("the call up at the drop: %d statuses (%v), want 1 from the live engine", len(live), got)
	}
	var back []int
	for i, cs := range got {
		if cs.From.Number != "15550009201" {
			back = append(back, i)
			if !cs.Backfilled {
				t.Errorf("not backfilled: %s", describe(cs))
			}
		}
	}
	used := map[int]bool{}
	for i := range got {
		if got[i].From.Number == "15550009201" {
			used[i] = true
		}
	}
	check(t, "ami-drop", calls, got, used)
	if len(back) != len(calls) {
		t.Errorf("%d backfilled statuses, want %d", len(back), len(calls))
	}
}
