package adapter

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstatus/callstatus/ami"
)

// floodAMI is a loopback AMI server that, after an events login, streams a
// synthetic flood in chunks and times every write: a write that stalls
// means the daemon stopped reading its socket.
type floodAMI struct {
	*amiServer
	stream [][]byte // chunks

	mu       sync.Mutex
	maxStall time.Duration
	took     time.Duration
	done     chan struct{}
}

func startFloodAMI(t *testing.T, chunks [][]byte) *floodAMI {
	t.Helper()
	f := &floodAMI{stream: chunks, done: make(chan struct{})}
	f.amiServer = serveAMI(t, listenLoopback(t), func(_ *amiServer, conn net.Conn) { f.serve(conn) })
	return f
}

func (f *floodAMI) serve(conn net.Conn) {
	defer conn.Close()
	io.WriteString(conn, amiBanner)
	rd := ami.NewReader(conn)
	for {
		a, err := rd.ReadFrame()
		if err != nil {
			return
		}
		id := a.Get("ActionID")
		switch a.Get("Action") {
		case "Login":
			replyLogin(conn, id, true)
			if a.Get("Events") != "off" {
				go f.flood(conn)
			}
		case "CoreShowChannels":
			replyNoChannels(conn, id)
		case "Logoff":
			fmt.Fprintf(conn, "Response: Goodbye\r\nActionID: %s\r\n\r\n", id)
			return
		}
	}
}

func (f *floodAMI) flood(conn net.Conn) {
	start := time.Now()
	var worst time.Duration
	for _, chunk := range f.stream {
		t := time.Now()
		if _, err := conn.Write(chunk); err != nil {
			return
		}
		worst = max(worst, time.Since(t))
	}
	f.mu.Lock()
	f.maxStall, f.took = worst, time.Since(start)
	f.mu.Unlock()
	close(f.done)
}

// floodStream builds endless calls (answered, never hung up) interleaved
// with short calls (created and hung up), as AMI without timestamps.
func floodStream(endless, short, perChunk int) (chunks [][]byte, frames int) {
	var buf bytes.Buffer
	flush := func() {
		chunks = append(chunks, bytes.Clone(buf.Bytes()))
		buf.Reset()
	}
	ch := func(event string, i int, extra string) {
		fmt.Fprintf(&buf, "Event: %s\r\nPrivilege: call,all\r\nChannel: PJSIP/trunk-%08x\r\nChannelState: 6\r\nChannelStateDesc: Up\r\n"+
			"CallerIDNum: 1555%07d\r\nContext: from-external\r\nExten: 800100\r\nPriority: 1\r\nUniqueid: 1764064800.%d\r\nLinkedid: 1764064800.%d\r\n%s\r\n",
			event, i, i, i, i, extra)
		frames++
		if frames%perChunk == 0 {
			flush()
		}
	}
	for i := 0; i < max(endless, short); i++ {
		if i < endless {
			ch("Newchannel", 2*i, "")
			ch("Newstate", 2*i, "")
		}
		if i < short {
			ch("Newchannel", 2*i+1, "")
			ch("Hangup", 2*i+1, "Cause: 16\r\nCause-txt: Normal Clearing\r\n")
		}
	}
	if buf.Len() > 0 {
		flush()
	}
	return chunks, frames
}

// engineCounter reads callstatus_engine_total{counter=name} (or, with name
// "", callstatus_active_calls) from the daemon's metrics.
func engineCounter(t *testing.T, d *Daemon, name string) float64 {
	t.Helper()
	mfs, err := d.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch {
		case name == "" && mf.GetName() == "callstatus_active_calls":
			return mf.GetMetric()[0].GetGauge().GetValue()
		case name != "" && mf.GetName() == "callstatus_engine_total":
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "counter" && l.GetValue() == name {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	t.Fatalf("no engine metric %q", name)
	return 0
}

// A flood far above any real rate, with NATS absent the whole time: AMI
// keeps being read (no write of the fake PBX stalls, no event is dropped),
// at most mapping.max_calls calls are tracked (the rest evicted), the TTL
// sweep ends the calls that never hang up, both counted in the metrics,
// and the statuses wait in the durable outbox on disk with memory bounded.
// Not parallel: it measures the process heap.
func TestFloodStaysBoundedAndReadable(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test: slow, not in make unit (-short)")
	}
	const endless, short, maxCalls, outboxMem = 40000, 20000, 1000, 512
	chunks, frames := floodStream(endless, short, 200)
	pbx := startFloodAMI(t, chunks)

	cfg := testDaemonConfig(t, -1)
	cfg.AMI.Address = pbx.ln.Addr().String()
	cfg.NATS.URLs = []string{"nats://127.0.0.1:" + strconv.Itoa(freePort(t))} // nobody there
	cfg.NATS.FlushTimeout = 500 * time.Millisecond
	cfg.Mapping.MaxCalls = maxCalls
	cfg.Mapping.CallTTL = time.Minute
	cfg.Engine.SweepInterval = 50 * time.Millisecond
	cfg.Outbox.Memory = outboxMem
	d, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The daemon's clock (sweeps), which the test moves on.
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	d.now = func() time.Time { return time.Unix(0, clock.Load()).UTC() }

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stopSample := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stopSample:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
			}
		}
	}()

	stop := runDaemon(t, d)
	select {
	case <-pbx.done:
	case <-time.After(60 * time.Second):
		t.Fatal("flood not written within 60s: the daemon stopped reading")
	}
	st := d.Stats()
	eventually(t, 60*time.Second, "every event applied", func() bool {
		return st.EventsApplied.Load() >= uint64(frames) && st.EventsApplied.Load() == st.EventsIn.Load()
	})
	statuses := uint64(short + endless - maxCalls)
	eventually(t, 30*time.Second, "statuses of short and evicted calls", func() bool { return st.StatusesEmitted.Load() >= statuses })
	eventually(t, 5*time.Second, "metrics after a sweep", func() bool { return engineCounter(t, d, "evicted") >= endless-maxCalls })
	if active := engineCounter(t, d, ""); active > maxCalls {
		t.Errorf("%v calls tracked, cap %d", active, maxCalls)
	}

	// Two minutes later (daemon clock) the calls that never hung up expire.
	clock.Add(int64(2 * time.Minute))
	eventually(t, 10*time.Second, "TTL sweep", func() bool { return engineCounter(t, d, "expired") >= maxCalls })
	if active := engineCounter(t, d, ""); active != 0 {
		t.Errorf("%v calls still tracked after the TTL", active)
	}
	if got := st.StatusesEmitted.Load(); got != short+endless {
		t.Errorf("%d statuses, want one per call (%d)", got, short+endless)
	}

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	close(stopSample)
	<-sampled
	pbx.mu.Lock()
	stall, took := pbx.maxStall, pbx.took
	pbx.mu.Unlock()
	retained := int64(after.HeapAlloc) - int64(base.HeapAlloc)
	t.Logf("%d frames (%d calls) written in %s, longest write %s; queue max depth %d; heap: peak %d MB, retained %d MB; outbox %d (%d on disk)",
		frames, endless+short, took.Round(time.Millisecond), stall.Round(time.Millisecond), st.QueueMaxDepth.Load(),
		peak.Load()>>20, retained>>20, st.Outbox.Depth.Load(), st.Outbox.Spilled.Load())
	if stall > 5*time.Second {
		t.Errorf("a write of the PBX stalled for %s: the daemon stopped reading AMI", stall)
	}
	if st.EventsDropped.Load() != 0 {
		t.Errorf("%d events dropped", st.EventsDropped.Load())
	}
	if st.Outbox.Depth.Load() != int64(short+endless) || st.Outbox.Spilled.Load() < int64(short+endless-outboxMem) {
		t.Errorf("outbox %d (%d on disk), want all %d statuses waiting, all but %d on disk", st.Outbox.Depth.Load(), st.Outbox.Spilled.Load(), short+endless, outboxMem)
	}
	// What stays in memory: at most max_calls calls, max_calls remembered
	// channels and outbox.memory statuses, a few MB; not the 60000 calls.
	if retained > 48<<20 {
		t.Errorf("heap grew by %d MB and stayed", retained>>20)
	}
	// The burst itself waits in the event queue while the engine catches
	// up (the reader is faster): that costs memory for a moment, never a
	// stalled socket. A generous bound catches a leak per event.
	if p := peak.Load(); p > 768<<20 {
		t.Errorf("heap peaked at %d MB during the flood", p>>20)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := st.PublishDropped.Load(); n != 0 {
		t.Errorf("%d statuses dropped at shutdown (they stay in the durable outbox)", n)
	}
}
