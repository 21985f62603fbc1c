package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/callstatus/callstatus/lab"
	"github.com/callstatus/callstatus/mapping"
)

// demoConfig is what `callstatus-lab demo` needs.
type demoConfig struct {
	daemon    string // the callstatusd binary
	config    string // its config file (lab/callstatusd.lab.yaml)
	container string
	natsPort  int
	httpAddr  string
	batch     int
	settle    time.Duration
	logFile   string
	only      []string
	// down scenarios are placed while the daemon is stopped; its backfill
	// (CEL, queue_log) reports them after it starts again.
	down int
}

// demoCmd starts a lab Asterisk and callstatusd (embedded NATS), places
// every scenario's calls, prints each status as it is published and ends
// with a summary. It fails unless every scenario came out as expected and
// all eight statuses were seen.
func demoCmd(stdout io.Writer) *cobra.Command {
	var c demoConfig
	var only string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "What make demo runs: Asterisk, callstatusd, every scenario's calls, each status as published, a summary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if only != "" {
				c.only = strings.Split(only, ",")
			}
			return demo(cmd.Context(), c, stdout)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&c.daemon, "daemon", "bin/callstatusd", "the callstatusd binary (make build)")
	fs.StringVar(&c.config, "config", "lab/callstatusd.lab.yaml", "callstatusd config; the demo overrides the AMI/ARI addresses, http.listen and the NATS port")
	fs.StringVar(&c.container, "container", "callstatus-demo", "name of the demo's Asterisk container (removed at the end)")
	fs.IntVar(&c.natsPort, "nats-port", 4222, "port of the daemon's embedded NATS server")
	fs.StringVar(&c.httpAddr, "http", "127.0.0.1:9180", "the daemon's /healthz /readyz /metrics address")
	fs.IntVar(&c.batch, "batch", 8, "scenarios placed at the same time (SIP scenarios run one by one beside them)")
	fs.DurationVar(&c.settle, "settle", 20*time.Second, "how long to wait for the last statuses after the last call")
	fs.StringVar(&c.logFile, "log", filepath.Join(os.TempDir(), "callstatus-demo", "callstatusd.log"), "where the daemon's log goes")
	fs.StringVar(&only, "only", "", "comma-separated scenario names (default: all)")
	fs.IntVar(&c.down, "down", 3, "scenarios placed while callstatusd is stopped (its backfill reports them); 0: none")
	return cmd
}

func demo(ctx context.Context, c demoConfig, stdout io.Writer) (err error) {
	t0 := time.Now()
	say := func(format string, a ...any) {
		fmt.Fprintf(stdout, "%6.1fs  "+format+"\n", append([]any{time.Since(t0).Seconds()}, a...)...)
	}

	scenarios, err := pick(c.only)
	if err != nil {
		return err
	}
	if _, err := os.Stat(c.daemon); err != nil {
		return fmt.Errorf("demo: daemon binary: %w (run `make build`)", err)
	}
	for _, addr := range []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(c.natsPort)), c.httpAddr} {
		if err := portFree(addr); err != nil {
			return fmt.Errorf("demo: %s is taken (another callstatusd or NATS?): %w", addr, err)
		}
	}

	// 1. The lab PBX, on random loopback ports.
	say("starting Asterisk 22 (container %s)…", c.container)
	exec.Command("docker", "rm", "-f", c.container).Run() // a leftover of an interrupted run
	// Asterisk's log directory is the demo's, so the daemon reads its
	// queue_log as it would beside a real PBX.
	logDir, err := os.MkdirTemp("", "callstatus-demo-asterisk-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(logDir)
	ast, err := lab.Start(ctx, lab.Options{Name: c.container, LogDir: logDir})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer func() {
		if serr := ast.Stop(context.Background()); serr != nil {
			err = errors.Join(err, serr)
			return
		}
		fmt.Fprintf(stdout, "removed container %s\n", c.container)
	}()
	say("Asterisk up: AMI %s, ARI %s", ast.AMIAddr, ast.ARIURL)

	// 2. The daemon, as a real process with the lab config.
	dataDir, err := os.MkdirTemp("", "callstatus-demo-data-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	backfillEnv := []string{"CALLSTATUS_BACKFILL_ENABLED=true", "CALLSTATUS_BACKFILL_DSN=" + ast.PGDSN,
		"CALLSTATUS_BACKFILL_QUEUE_LOG=" + filepath.Join(logDir, "queue_log"), "CALLSTATUS_BACKFILL_SETTLE=2s"}
	d, err := startDaemon(c, ast, dataDir, false, backfillEnv...)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, d.stop()) }()
	say("callstatusd started (pid %d, log %s)", d.cmd.Process.Pid, c.logFile)

	rd, err := waitReady(ctx, "http://"+c.httpAddr+"/readyz", d.done, 60*time.Second)
	if err != nil {
		return fmt.Errorf("demo: callstatusd not ready: %w\n%s", err, tailFile(c.logFile, 15))
	}
	say("callstatusd ready: %s", rd)
	say("meanwhile try: curl -s %s/readyz; curl -s %s/metrics; bin/callstatusd tail --server nats://127.0.0.1:%d", c.httpAddr, c.httpAddr, c.natsPort)

	// 3. A subscriber, before any call.
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", c.natsPort)
	nc, err := nats.Connect(natsURL, nats.Name("callstatus-lab demo"))
	if err != nil {
		return fmt.Errorf("demo: connect to %s: %w", natsURL, err)
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 256)
	// Statuses only: the per-user messages (callstatus.<pbx>.user.<ext>.<outcome>) have five tokens.
	if _, err := nc.ChanSubscribe("callstatus.*.*.*", msgs); err != nil {
		return fmt.Errorf("demo: subscribe: %w", err)
	}
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("demo: subscribe: %w", err)
	}

	// 4. The calls.
	drv, err := lab.NewDriver(ctx, lab.DriverConfig{Container: ast.Container, AMIAddr: ast.AMIAddr, ARIURL: ast.ARIURL,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	tl := newTally(scenarios)
	ncalls := 0
	for _, s := range scenarios {
		ncalls += len(s.Calls)
	}

	// 4a. A few calls while the daemon is stopped: nobody listens, and
	// the backfill reports them once it is back.
	down, scenarios := splitDown(scenarios, c.down)
	downCalls := 0
	if len(down) > 0 {
		var names []string
		for _, s := range down {
			names = append(names, s.Name)
			downCalls += len(s.Calls)
		}
		say("stopping callstatusd; placing %s while it is down…", strings.Join(names, ", "))
		if err := d.stop(); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		placeAll(ctx, drv, down, c.batch, tl)
		if err := drv.WaitIdle(ctx, 30*time.Second); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if d, err = startDaemon(c, ast, dataDir, true, backfillEnv...); err != nil {
			return err
		}
		if _, err := waitReady(ctx, "http://"+c.httpAddr+"/readyz", d.done, 60*time.Second); err != nil {
			return fmt.Errorf("demo: callstatusd not ready again: %w\n%s", err, tailFile(c.logFile, 15))
		}
		say("callstatusd started again (pid %d); its backfill reads the gap from CEL (PostgreSQL) and queue_log", d.cmd.Process.Pid)
	}
	say("placing %d calls of %d scenarios (%d at a time, SIP ones in turn)…\n", ncalls-downCalls, len(scenarios), c.batch)
	fmt.Fprintln(stdout, statusHeader())

	pctx, stopPlacing := context.WithCancel(ctx)
	placedDone := make(chan struct{})
	go func() {
		defer close(placedDone)
		placeAll(pctx, drv, scenarios, c.batch, tl)
	}()
	// The driver goes once every scenario goroutine has returned.
	defer func() { stopPlacing(); <-placedDone; drv.Close() }()
	placed := placedDone

	// 5. Print statuses until every call has one (or the settle time after
	// the last call is over).
	var settle <-chan time.Time
	interrupted := false
	backfilled := 0
loop:
	for {
		select {
		case m := <-msgs:
			var cs mapping.CallStatus
			if jerr := json.Unmarshal(m.Data, &cs); jerr != nil {
				fmt.Fprintf(stdout, "undecodable status on %s: %v\n", m.Subject, jerr)
				continue
			}
			if cs.Backfilled {
				backfilled++
			}
			e, ok := tl.observe(cs)
			fmt.Fprintln(stdout, statusLine(time.Since(t0), cs, e, ok))
			if settle != nil && tl.pending() == 0 {
				break loop
			}
		case <-placed:
			placed = nil
			if tl.pending() == 0 {
				break loop
			}
			settle = time.After(c.settle)
		case <-settle:
			break loop
		case <-d.done:
			return fmt.Errorf("demo: callstatusd exited: %v\n%s", d.err, tailFile(c.logFile, 15))
		case <-ctx.Done():
			interrupted = true
			break loop
		}
	}

	// 6. The summary, and what the daemon counted.
	if interrupted {
		fmt.Fprintln(stdout, "\ninterrupted: stopping the calls, callstatusd (SIGTERM) and Asterisk; what was seen so far:")
	}
	r := tl.report(stdout)
	if len(down) > 0 {
		fmt.Fprintf(stdout, "%d statuses came from the backfill (%d calls were placed while callstatusd was stopped)\n", backfilled, downCalls)
	}
	if !interrupted {
		// The engine reports its gauges once per sweep (1 s): let the
		// last call leave them.
		time.Sleep(1500 * time.Millisecond)
	}
	if line := metricsLine("http://" + c.httpAddr + "/metrics"); line != "" {
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintf(stdout, "took %s; daemon log: %s\n", time.Since(t0).Round(100*time.Millisecond), c.logFile)
	switch {
	case interrupted:
		return errors.New("demo: interrupted")
	case !r.pass():
		return errors.New("demo: not every scenario came out as expected")
	case backfilled != downCalls:
		return fmt.Errorf("demo: %d statuses from the backfill, want %d", backfilled, downCalls)
	}
	return nil
}

// splitDown takes up to n scenarios to place while the daemon is down:
// short Local-channel ones (SIP scenarios use fixed SIPp ports, overlap
// places several calls), so the backfill's calls are few and quick.
func splitDown(scenarios []lab.Scenario, n int) (down, rest []lab.Scenario) {
	prefer := []string{"outbound-busy", "inbound-missed-busy", "queue-timeout", "outbound-connected", "inbound-answered"}
	taken := map[string]bool{}
	for _, name := range prefer {
		for _, s := range scenarios {
			if len(down) < n && s.Name == name {
				down = append(down, s)
				taken[s.Name] = true
			}
		}
	}
	for _, s := range scenarios {
		if len(down) < n && !taken[s.Name] && !s.SIP && len(s.Calls) == 1 {
			down = append(down, s)
			taken[s.Name] = true
		}
	}
	for _, s := range scenarios {
		if !taken[s.Name] {
			rest = append(rest, s)
		}
	}
	return down, rest
}

// pick returns the scenarios named in only, or all.
func pick(only []string) ([]lab.Scenario, error) {
	if len(only) == 0 {
		return lab.Scenarios(), nil
	}
	var out []lab.Scenario
	for _, n := range only {
		s, ok := lab.Lookup(strings.TrimSpace(n))
		if !ok {
			return nil, fmt.Errorf("demo: no scenario %q (callstatus-lab list)", n)
		}
		out = append(out, s)
	}
	return out, nil
}

// placeAll runs the scenarios: all but the SIP ones batch at a time, the
// SIP ones (fixed SIPp ports) one after another beside them.
func placeAll(ctx context.Context, drv *lab.Driver, scenarios []lab.Scenario, batch int, tl *tally) {
	var wg sync.WaitGroup
	var g errgroup.Group
	g.SetLimit(max(batch, 1))
	run := func(s lab.Scenario) {
		if ctx.Err() != nil {
			return
		}
		tl.start(s.Name)
		if err := drv.Run(ctx, s.Name); err != nil && ctx.Err() == nil {
			tl.fail(s.Name, err)
		}
	}
	var sip []lab.Scenario
	for _, s := range scenarios {
		if s.SIP {
			sip = append(sip, s)
			continue
		}
		g.Go(func() error { run(s); return nil })
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, s := range sip {
			run(s)
		}
	}()
	g.Wait()
	wg.Wait()
}

// daemonProc is callstatusd running as a child process.
type daemonProc struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed once it exited; err is then set
	err  error
}

func startDaemon(c demoConfig, ast *lab.Asterisk, dataDir string, again bool, env ...string) (*daemonProc, error) {
	if err := os.MkdirAll(filepath.Dir(c.logFile), 0o755); err != nil {
		return nil, fmt.Errorf("demo: log dir: %w", err)
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if again {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND // the same log, both runs
	}
	logf, err := os.OpenFile(c.logFile, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("demo: log: %w", err)
	}
	cmd := exec.Command(c.daemon, "run", "--config", c.config, "--data-dir", dataDir)
	cmd.Env = append(os.Environ(),
		"CALLSTATUS_AMI_ADDRESS="+ast.AMIAddr,
		"CALLSTATUS_ARI_URL="+ast.ARIURL,
		"CALLSTATUS_HTTP_LISTEN="+c.httpAddr,
		"CALLSTATUS_NATS_EMBEDDED_PORT="+strconv.Itoa(c.natsPort),
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: Ctrl-C reaches the demo only, which then
	// stops the daemon with SIGTERM, as systemd would.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("demo: start %s: %w", c.daemon, err)
	}
	d := &daemonProc{cmd: cmd, log: logf, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	return d, nil
}

// stop sends SIGTERM and waits for the daemon to flush and exit.
func (d *daemonProc) stop() error {
	defer d.log.Close()
	select {
	case <-d.done:
		return nil // already gone; the caller reported it
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		if d.err != nil {
			return fmt.Errorf("callstatusd: %w", d.err)
		}
		return nil
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		return errors.New("callstatusd did not stop within 20s of SIGTERM; killed")
	}
}

// waitReady polls /readyz until it answers 200 and returns the component
// states.
func waitReady(ctx context.Context, url string, exited <-chan struct{}, limit time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var r struct {
				Ready      bool `json:"ready"`
				Components map[string]struct {
					State string `json:"state"`
				} `json:"components"`
			}
			json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			var parts []string
			for _, name := range []string{"ami", "ari", "nats"} {
				if c, ok := r.Components[name]; ok {
					parts = append(parts, name+" "+c.State)
				}
			}
			last = strings.Join(parts, ", ")
			if resp.StatusCode == http.StatusOK {
				return last, nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w (last: %s)", ctx.Err(), last)
		case <-exited:
			return "", errors.New("callstatusd exited")
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func portFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

func statusHeader() string {
	return fmt.Sprintf("%6s  %-29s %-13s %-27s %-16s %-16s %-17s %s",
		"TIME", "CATEGORY/STATUS", "REASON", "FROM → TO", "AGENT", "QUEUE", "RING/WAIT/TALK", "SCENARIO")
}

// statusLine is one published status: what the consumer got, and which
// scenario call it belongs to with ✓ or ✗.
func statusLine(at time.Duration, cs mapping.CallStatus, e *expected, ok bool) string {
	agent := "-"
	if cs.Agent != nil {
		agent = cs.Agent.Number
		if cs.Agent.Name != "" {
			agent = cs.Agent.Name
		}
	}
	var qs []string
	for _, q := range cs.Queues {
		qs = append(qs, q.Queue)
	}
	queue := "-"
	if len(qs) > 0 {
		queue = strings.Join(qs, ",")
	}
	reason := cs.Reason
	if reason == "" {
		reason = "-"
	}
	if cs.Incomplete {
		reason += "!"
	}
	scenario := "(unexpected) ✗"
	if e != nil {
		mark := "✓"
		if !ok {
			mark = fmt.Sprintf("✗ want %s/%s %s", e.call.Category, e.call.Status, e.call.Reason)
		}
		scenario = e.scenario + " " + mark
	}
	return fmt.Sprintf("%5.1fs  %-29s %-13s %-27s %-16s %-16s %-17s %s",
		at.Seconds(), string(cs.Category)+"/"+string(cs.Status), clip(reason, 13),
		clip(number(cs.From)+" → "+number(cs.To), 27), clip(agent, 16), clip(queue, 16),
		fmt.Sprintf("%.0fs/%.0fs/%.0fs", cs.RingSeconds, cs.WaitSeconds, cs.TalkSeconds), scenario)
}

func number(p mapping.Party) string {
	if p.Number != "" {
		return p.Number
	}
	return "?"
}

// metricsLine reads a few of the daemon's own counters from /metrics.
func metricsLine(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	sums := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		base, labels, _ := strings.Cut(name, "{")
		v, err := strconv.ParseFloat(strings.Fields(rest + " 0")[0], 64)
		if err != nil {
			continue
		}
		switch base {
		case "callstatus_events_received_total":
			sums[base] += v
			if strings.Contains(labels, `source="ami"`) {
				sums["ami"] += v
			} else if strings.Contains(labels, `source="ari"`) {
				sums["ari"] += v
			}
		case "callstatus_statuses_published_total", "callstatus_publish_errors_total", "callstatus_events_dropped_total",
			"callstatus_publish_duration_seconds_sum", "callstatus_publish_duration_seconds_count", "callstatus_active_calls":
			sums[base] += v
		}
	}
	avg := 0.0
	if n := sums["callstatus_publish_duration_seconds_count"]; n > 0 {
		avg = sums["callstatus_publish_duration_seconds_sum"] / n * 1000
	}
	return fmt.Sprintf("daemon /metrics: %.0f events received (ami %.0f, ari %.0f), %.0f statuses published (avg %.1f ms to JetStream ack), %.0f publish errors, %.0f events dropped, %.0f active calls",
		sums["callstatus_events_received_total"], sums["ami"], sums["ari"], sums["callstatus_statuses_published_total"], avg,
		sums["callstatus_publish_errors_total"], sums["callstatus_events_dropped_total"], sums["callstatus_active_calls"])
}

// tailFile is the last n lines of a file, for an error message.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "callstatusd log (last lines):\n" + strings.Join(lines, "\n")
}
