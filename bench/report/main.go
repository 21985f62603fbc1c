// Command report turns the output of the `make bench` runs (go test -bench
// text, several -count runs each) into one table of medians against the
// targets of issue 6, prints it, and writes BENCHMARKS.md with the machine,
// the Go version and the exact commands.
//
//	go run ./bench/report -commands cmds.txt -out BENCHMARKS.md engine.txt ingest.txt ...
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	out := flag.String("out", "BENCHMARKS.md", "markdown file to write")
	cmds := flag.String("commands", "", "file listing the commands that produced the inputs")
	stat := flag.String("benchstat", "", "benchstat's summary of the same inputs, to include")
	flag.Parse()
	if err := run(*out, *cmds, *stat, flag.Args(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// results: benchmark name (without -GOMAXPROCS) -> unit -> values, one per
// run.
type results map[string]map[string][]float64

func parse(r io.Reader, res results) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		if res[name] == nil {
			res[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return fmt.Errorf("%s: value %q: %w", f[0], f[i], err)
			}
			res[name][f[i+1]] = append(res[name][f[i+1]], v)
		}
	}
	return sc.Err()
}

// median of the runs, and how many there were.
func (res results) median(name, unit string) (float64, int, bool) {
	vs := res[name][unit]
	if len(vs) == 0 {
		return 0, 0, false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return m, len(s), true
}

// ratios pairs the runs of a and b in order (the ingest rounds run every
// peer once per round) and gives the range of a/b.
func (res results) ratios(a, b, unit string) string {
	va, vb := res[a][unit], res[b][unit]
	lo, hi := 0.0, 0.0
	for i := range min(len(va), len(vb)) {
		if vb[i] == 0 {
			continue
		}
		r := va[i] / vb[i]
		if lo == 0 || r < lo {
			lo = r
		}
		hi = max(hi, r)
	}
	if lo == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1fx–%.1fx", lo, hi)
}

// row is one line of the table.
type row struct {
	what, value, target, verdict string
}

func run(outPath, cmdsPath, statPath string, inputs []string, stdout io.Writer) error {
	if len(inputs) == 0 {
		return errors.New("no input files")
	}
	res := results{}
	var raw strings.Builder
	for _, p := range inputs {
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		raw.Write(body)
		if err := parse(strings.NewReader(string(body)), res); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	rows := table(res)
	tbl := render(rows)
	fmt.Fprint(stdout, tbl)

	var cmds string
	if cmdsPath != "" {
		b, err := os.ReadFile(cmdsPath)
		if err != nil {
			return err
		}
		cmds = string(b)
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Benchmarks\n\nWritten by `make bench` on %s. Every number is the median of the runs shown in\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	md.WriteString("brackets (`go test -count`); the raw output is at the end. No test asserts on speed: these are\nbenchmarks, and the targets are those of issue 6.\n\n")
	md.WriteString("## Machine\n\n")
	fmt.Fprintf(&md, "- CPU: %s, %d cores (`nproc`: %s)\n", cpuModel(), runtime.NumCPU(), nproc())
	fmt.Fprintf(&md, "- Memory: %s\n", memTotal())
	fmt.Fprintf(&md, "- Go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&md, "- Kernel: %s\n", kernel())
	md.WriteString("- Shared: other sessions run Docker tests and builds on the same two cores while this runs, so\n  single runs are noisy (load average at the end of the run: " + loadavg() + "). Medians of several\n  runs, and the ingest peers interleaved round by round, keep comparisons fair.\n\n")
	md.WriteString("## Results\n\n")
	md.WriteString(tbl)
	md.WriteString("\n")
	md.WriteString(notes)
	if cmds != "" {
		md.WriteString("\n## Commands\n\n```sh\n")
		md.WriteString(cmds)
		md.WriteString("```\n")
	}
	if statPath != "" {
		if b, err := os.ReadFile(statPath); err == nil && len(b) > 0 {
			md.WriteString("\n## benchstat\n\nThe same runs through `benchstat` (median ± 95% confidence interval over the runs):\n\n```\n")
			md.Write(b)
			md.WriteString("```\n")
		}
	}
	md.WriteString("\n## Raw output\n\n```\n")
	md.WriteString(raw.String())
	md.WriteString("```\n")
	return os.WriteFile(outPath, []byte(md.String()), 0o644)
}

func table(res results) []row {
	var rows []row
	get := func(name, unit string) (float64, string) {
		v, n, ok := res.median(name, unit)
		if !ok {
			return 0, "not run"
		}
		return v, fmt.Sprintf("%s [%d]", human(v), n)
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}

	v, s := get("BenchmarkEngine", "events/s")
	rows = append(rows, row{"engine: events/s, one core, pre-translated multiplied stream", s, "≥ 2,000,000", verdict(v >= 2e6)})
	_, s = get("BenchmarkEngine", "allocs/event")
	rows = append(rows, row{"engine: allocations per event", s, "", ""})
	_, s = get("BenchmarkEngine", "B/event")
	rows = append(rows, row{"engine: bytes allocated per event", s, "", ""})
	v, s = get("BenchmarkEngineMemory", "B/active-call")
	n, _ := get("BenchmarkEngineMemory", "active-calls")
	rows = append(rows, row{fmt.Sprintf("engine: heap per active call (%s calls open)", human(n)), s + " B", "≤ 2,048 B", verdict(v > 0 && v <= 2048)})

	own, s := get("BenchmarkIngestCallstatus", "events/s")
	rows = append(rows, row{"AMI ingest: callstatus ami.Source (Reader + Translate), events/s", s, "", ""})
	g1, s1 := get("BenchmarkIngestGoami", "events/s")
	rows = append(rows, row{"AMI ingest: goami stock Socket + Events, events/s", s1, "", ""})
	g2, s2 := get("BenchmarkIngestGoami2", "events/s")
	d2, _ := get("BenchmarkIngestGoami2", "delivered")
	rows = append(rows, row{fmt.Sprintf("AMI ingest: goami2 v1.7.6 Client, events/s (delivered %.2f%% of frames)", d2*100), s2, "", ""})
	if g1 > 0 {
		rows = append(rows, row{"AMI ingest: callstatus / goami (ratio of medians; per round)", fmt.Sprintf("%.1fx; %s", own/g1, res.ratios("BenchmarkIngestCallstatus", "BenchmarkIngestGoami", "events/s")), "≥ 10x", verdict(own/g1 >= 10)})
	}
	if g2 > 0 {
		rows = append(rows, row{"AMI ingest: callstatus / goami2 (ratio of medians; per round)", fmt.Sprintf("%.1fx; %s", own/g2, res.ratios("BenchmarkIngestCallstatus", "BenchmarkIngestGoami2", "events/s")), "≥ 2x", verdict(own/g2 >= 2)})
	}

	v, s = get("BenchmarkE2E", "events/s")
	lost, _ := get("BenchmarkE2E", "lost")
	dups, _ := get("BenchmarkE2E", "dups")
	rows = append(rows, row{"end to end, flat out: AMI events/s (fake AMI → daemon → embedded JetStream → subscriber)", s, "≥ 300,000", verdict(v >= 3e5 && lost == 0)})
	_, s = get("BenchmarkE2E", "statuses/s")
	rows = append(rows, row{"end to end, flat out: statuses/s", s, "", ""})
	rows = append(rows, row{"end to end, flat out: statuses lost / published twice (median)", fmt.Sprintf("%s / %s", human(lost), human(dups)), "0 / 0", verdict(lost == 0 && dups == 0)})

	open, _ := get("BenchmarkDaemonSteady", "open-calls")
	rate, _ := get("BenchmarkDaemonSteady", "load-events/s")
	cond := fmt.Sprintf("%s calls open, %s events/s", human(open), human(rate))
	p99, _ := get("BenchmarkDaemonSteady", "p99-ms")
	for _, q := range []string{"p50", "p99", "max"} {
		_, s := get("BenchmarkDaemonSteady", q+"-ms")
		r := row{fmt.Sprintf("hangup → delivery latency %s (callstatusd subprocess, %s)", q, cond), s + " ms", "", ""}
		if q == "p99" {
			r.target, r.verdict = "< 2 ms", verdict(p99 > 0 && p99 < 2)
		}
		rows = append(rows, r)
	}
	sl, _ := get("BenchmarkDaemonSteady", "lost")
	sd, _ := get("BenchmarkDaemonSteady", "dups")
	rows = append(rows, row{"paced run: statuses lost / published twice", fmt.Sprintf("%s / %s", human(sl), human(sd)), "0 / 0", verdict(sl == 0 && sd == 0)})
	_, s = get("BenchmarkDaemonSteady", "idle-cpu-%")
	_, s1 = get("BenchmarkDaemonSteady", "idle-rss-MB")
	rows = append(rows, row{"callstatusd idle: CPU % of one core, RSS", s + " %, " + s1 + " MiB", "", ""})
	_, s = get("BenchmarkDaemonSteady", "load-cpu-%")
	_, s1 = get("BenchmarkDaemonSteady", "load-rss-MB")
	_, s2 = get("BenchmarkDaemonSteady", "peak-rss-MB")
	rows = append(rows, row{fmt.Sprintf("callstatusd at %s: CPU %% of one core, RSS (peak)", cond), s + " %, " + s1 + " MiB (" + s2 + ")", "", ""})
	return rows
}

func render(rows []row) string {
	var b strings.Builder
	b.WriteString("| measure | median [runs] | target | |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.what, r.value, r.target, r.verdict)
	}
	return b.String()
}

// human prints v with thousands separators, or with two decimals when small.
func human(v float64) string {
	if v != 0 && v < 100 && v > -100 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	s := strconv.FormatFloat(v, 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func cpuModel() string {
	body, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(body), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	body, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(body), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == "MemTotal" {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return fmt.Sprintf("%.1f GiB", kb/1024/1024)
		}
	}
	return "unknown"
}

func nproc() string {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func kernel() string {
	body, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(body))
}

func loadavg() string {
	body, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(body))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

const notes = `## What is measured

- **Stream.** ` + "`bench/synth`" + ` multiplies the 34 lab recordings (testdata/recordings/*.ami, real Asterisk 22)
  with fresh unique ids, linked ids, channel sequence numbers and bridge ids per copy, shifts their
  timestamps, and interleaves the copies by timestamp so that about 2,000 calls are open at once
  (about 90 frames per recording; VarSet and Newexten dominate, as on a real PBX). A test replays a
  multiplied stream through the engine and checks that every copy gives its recording's answer.
- **Engine.** ` + "`BenchmarkEngine`" + ` applies the pre-translated stream (10,000 copies, about 907,000 frames of
  which 658,000 translate) to a fresh ` + "`mapping.Machine`" + ` on one goroutine with GOMAXPROCS=1 (` + "`-cpu 1`" + `: the engine
  and the garbage collector share one core), statuses included.
  ` + "`BenchmarkEngineMemory`" + ` reads a stream cut before every hangup through ` + "`ami.Reader`" + ` and
  ` + "`Translate`" + ` into the engine, then weighs the heap after GC (runtime.ReadMemStats) and divides by
  the calls open: that includes whatever wire frames the engine's strings keep alive.
- **AMI ingest.** One loopback server (` + "`bench/fakeami`" + `, answers Login for every client) serves the same
  45 MB stream to each client in turn; rounds are interleaved by ` + "`make bench`" + `. Events/s is frames
  divided by the time from the first byte written to the last frame delivered. callstatus runs its
  daemon path (` + "`ami.Source`" + `: Reader, Translate, per-event stats); goami its stock ` + "`Socket`" + `, ` + "`Login`" + `,
  ` + "`Events`" + ` loop; goami2 its ` + "`Client`" + ` and ` + "`AllMessages`" + ` (goami2 fails to parse some frames and drops
  messages its reader cannot hand over within 10 ms; the delivered share is shown).
- **End to end, flat out.** ` + "`BenchmarkE2E`" + `: the fake server writes 5,000 copies (about 450,000 frames) as
  fast as the daemon reads; the daemon is ` + "`adapter.Daemon`" + ` in the benchmark process (AMI source with
  snapshot, engine, durable outbox, embedded NATS **with JetStream**: every status is acknowledged by
  the stream); a core NATS subscriber counts distinct call ids. Time runs from the first byte written to
  the last status received. Server, daemon, NATS server and subscriber share the two cores.
- **Steady load.** ` + "`BenchmarkDaemonSteady`" + ` starts ` + "`bin/callstatusd run`" + ` as a subprocess (same defaults,
  JetStream) against the fake server: 7 s idle, then the stream paced by its own timestamps so about
  2,000 calls are open. The server notes when it wrote each Hangup; latency is the subscriber's
  receive time minus the write time of the last Hangup of the call's channels, for calls that ended
  while at least 1,800 calls were open. CPU is utime+stime from /proc/PID/stat over the idle period
  and over the steady window; RSS is VmRSS (peak: VmHWM).

## What bounds the numbers

- The engine's cost per event is a map lookup by unique id (skipped when the event is about the same
  channel as the one before, 38% of this mix), the call's bookkeeping, and for a status a decision
  and a few allocations. In the pre-translated benchmark most of the remaining time is the first
  touch of each event's id bytes in a 450 MB stream (cache misses), not computation.
- Memory per active call: the strings the engine keeps are copied out of the frames
  (mapping/keep.go); before, a call pinned about 1 KB per AMI frame it was last seen in (9.9 KB per
  active call). The engine state is then kept dense: times as Unix-nanosecond stamps, evidence
  references packed in one word, a channel's first known context as an index into the configured
  lists, no per-channel copy of the linkedid (together 2,816 B -> 1,989 B per call). What is
  left: channel records (3.5 channels per call in this mix: caller, dialed leg and the two halves of
  the lab's Local channels; 216 B each), the call record (336 B), the copied strings (ids, names,
  numbers), map entries and legs. A PBX of PJSIP phones and trunks has 2 channels per two-party
  call, so less per call than this Local-heavy mix.
- Ingest is bound by one copy of each frame into a string plus its header index, and by the
  loopback socket; goami's ` + "`read`" + ` re-scans its whole buffer per line and hops every line through a
  channel, goami2 copies every line into a builder and every frame through two channels.
- End to end, the flat-out rate is bound by the two cores being shared by the fake server's socket
  writes, the reader, the engine and the NATS server; the publisher waits for each JetStream ack in
  turn, which bounds statuses/s but stays ahead of the roughly 1 status per 83 frames of this mix.
- Latency at steady load is one JetStream round trip plus scheduling on a shared machine; the tail
  (max) is GC and other processes on the same cores.
`
