package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callstatus/callstatus/bench/fakeami"
	"github.com/callstatus/callstatus/bench/synth"
	"github.com/callstatus/callstatus/lab"
)

// steadyCopies: about 17 s of call starts at 2,000 calls open, so the
// steady state lasts several seconds after the ramp-up.
const steadyCopies = 7000

// clockTick is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTick = 100

// BenchmarkDaemonSteady runs bin/callstatusd (CALLSTATUSD_BIN, else built
// here) as a subprocess against the fake AMI server, first idle, then with
// the multiplied stream paced by its timestamps so that about 2,000 calls
// are open at once. It reports the daemon's CPU and RSS idle and under that
// load, and hangup-to-delivery latency: the subscriber's receive time minus
// the time the server wrote the last Hangup of the call, over the calls that
// ended while at least 90% of the target were open.
func BenchmarkDaemonSteady(b *testing.B) {
	bin := daemonBinary(b)
	st := generate(b, synth.Options{Copies: steadyCopies, Concurrency: steadyConcurrency, Start: time.Now()})
	minOpen := int32(steadyConcurrency * 9 / 10)
	i1, i2 := steadyWindow(st, minOpen)
	if i1 < 0 {
		b.Fatalf("the stream never has %d calls open (max %d)", minOpen, st.MaxOpen)
	}
	for b.Loop() {
		r := runSteady(b, bin, st, i1, i2, minOpen)
		b.ReportMetric(ms(r.p50), "p50-ms")
		b.ReportMetric(ms(r.p99), "p99-ms")
		b.ReportMetric(ms(r.max), "max-ms")
		b.ReportMetric(float64(r.samples), "latency-samples")
		b.ReportMetric(r.idleCPU, "idle-cpu-%")
		b.ReportMetric(r.idleRSS, "idle-rss-MB")
		b.ReportMetric(r.loadCPU, "load-cpu-%")
		b.ReportMetric(r.loadRSS, "load-rss-MB")
		b.ReportMetric(r.hwm, "peak-rss-MB")
		b.ReportMetric(r.rate, "load-events/s")
		b.ReportMetric(r.open, "open-calls")
		b.ReportMetric(float64(r.lost), "lost")
		b.ReportMetric(float64(r.dups), "dups")
	}
}

type steadyResult struct {
	p50, p99, max                      time.Duration
	samples                            int
	idleCPU, idleRSS, loadCPU, loadRSS float64
	hwm, rate, open                    float64
	lost, dups                         int
}

// steadyWindow is the first and last frame with at least minOpen calls
// open.
func steadyWindow(st *synth.Stream, minOpen int32) (int, int) {
	i1, i2 := -1, -1
	for i, f := range st.Frames {
		if f.Open >= minOpen {
			if i1 < 0 {
				i1 = i
			}
			i2 = i
		}
	}
	return i1, i2
}

func runSteady(b *testing.B, bin string, st *synth.Stream, i1, i2 int, minOpen int32) steadyResult {
	gate := make(chan struct{})
	srv, err := fakeami.Start(st, fakeami.Options{User: amiUser, Secret: amiSecret, Paced: true, Gate: gate})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	dir := b.TempDir()
	port := freePort(b)
	conf := filepath.Join(dir, "callstatusd.yaml")
	trunks, _ := json.Marshal(lab.Rules().TrunkChannels)
	yaml := fmt.Sprintf(`data_dir: %s
log:
  level: warn
http:
  listen: ""
ami:
  address: %s
  username: %s
  password: %s
mapping:
  pbx_id: %s
  trunk_channels: %s
nats:
  embedded:
    port: %d
`, dir, srv.Addr(), amiUser, amiSecret, lab.Rules().PBXID, trunks, port)
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		b.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "run", "--config", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	sub := subscribe(b, fmt.Sprintf("nats://127.0.0.1:%d", port), st.Calls)
	defer sub.nc.Close()

	var r steadyResult
	// Idle: connected, logged in, nothing happening.
	time.Sleep(2 * time.Second)
	c0, t0 := cpuTicks(b, pid), time.Now()
	time.Sleep(5 * time.Second)
	c1, t1 := cpuTicks(b, pid), time.Now()
	r.idleCPU = cpuPercent(c1-c0, t1.Sub(t0))
	r.idleRSS, _ = rssMB(b, pid)

	close(gate)
	<-srv.Streaming()
	started, _, _, _ := srv.Times()
	sleepUntil(started.Add(st.Frames[i1].At))
	c0, t0 = cpuTicks(b, pid), time.Now()
	var rssMax float64
	for end := started.Add(st.Frames[i2].At); time.Now().Before(end); {
		time.Sleep(min(500*time.Millisecond, time.Until(end)))
		rss, _ := rssMB(b, pid)
		rssMax = max(rssMax, rss)
	}
	c1, t1 = cpuTicks(b, pid), time.Now()
	r.loadCPU = cpuPercent(c1-c0, t1.Sub(t0))
	r.loadRSS = rssMax
	r.rate = float64(i2-i1) / (st.Frames[i2].At - st.Frames[i1].At).Seconds()
	var open float64
	for _, f := range st.Frames[i1 : i2+1] {
		open += float64(f.Open)
	}
	r.open = open / float64(i2-i1+1)

	if !sub.wait(st.Span + time.Minute) {
		b.Logf("timed out waiting for statuses; daemon log in %s", logf.Name())
	}
	_, r.hwm = rssMB(b, pid)
	got, dups, _ := sub.counts()
	r.lost, r.dups = st.Calls-got, dups
	<-srv.Done()
	_, _, hangups, _ := srv.Times()
	sub.mu.Lock()
	msgs := append([]received(nil), sub.msgs...)
	sub.mu.Unlock()
	lat := latencies(b, st, hangups, msgs, minOpen)
	r.samples = len(lat)
	r.p50, r.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
	if len(lat) > 0 {
		r.max = lat[len(lat)-1]
	}
	return r
}

// daemonBinary is $CALLSTATUSD_BIN, or callstatusd built into a temp dir.
func daemonBinary(b *testing.B) string {
	if bin := os.Getenv("CALLSTATUSD_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			b.Fatal(err)
		}
		return abs
	}
	bin := filepath.Join(b.TempDir(), "callstatusd")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/callstatusd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build callstatusd: %v\n%s", err, out)
	}
	return bin
}

// cpuTicks is utime+stime of pid, in clock ticks.
func cpuTicks(b *testing.B, pid int) int64 {
	body, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(body)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	stt, _ := strconv.ParseInt(fields[12], 10, 64)
	return ut + stt
}

func cpuPercent(ticks int64, d time.Duration) float64 {
	return float64(ticks) / clockTick / d.Seconds() * 100
}

// rssMB is VmRSS and VmHWM of pid in MiB.
func rssMB(b *testing.B, pid int) (rss, hwm float64) {
	body, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

func sleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}
