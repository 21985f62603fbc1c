package replay

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func rules() mapping.Config {
	cfg := mapping.DefaultConfig()
	cfg.PBXID = "lab"
	return cfg
}

func TestRunAMI(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)
	rec := "Asterisk Call Manager/9.0.0\r\n" + amiInboundAnswered("1764064800.1", t0) + amiInboundAnswered("1764064900.7", t0.Add(time.Minute))
	f := writeFile(t, dir, "two.ami", rec)
	var got []mapping.CallStatus
	sum, err := Run(Options{Rules: rules()}, []string{f}, func(cs mapping.CallStatus) { got = append(got, cs) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || sum.Statuses != 2 || sum.BadTotal() != 0 {
		t.Fatalf("got %d statuses (summary %+v), want 2: %+v", len(got), sum, got)
	}
	for i, id := range []string{"lab:1764064800.1", "lab:1764064900.7"} {
		if got[i].CallID != id || got[i].Category != mapping.Inbound || got[i].Status != mapping.Answered {
			t.Errorf("status %d: %s %s %s, want %s inbound answered", i, got[i].CallID, got[i].Category, got[i].Status, id)
		}
	}
}

func TestRunMergesByTimestamp(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)
	// Two AMI files whose calls interleave in time: the merge must
	// give the same statuses as one file.
	a := writeFile(t, dir, "a.ami", amiInboundAnswered("1764064800.1", t0))
	b := writeFile(t, dir, "b.ami", amiInboundAnswered("1764064800.2", t0.Add(50*time.Millisecond)))
	var got []string
	if _, err := Run(Options{Rules: mapping.DefaultConfig()}, []string{a, b}, func(cs mapping.CallStatus) { got = append(got, cs.LinkedID+"="+string(cs.Status)) }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "1764064800.1=answered 1764064800.2=answered" {
		t.Errorf("got %v", got)
	}
}

// The engine is swept every SweepEvery of recording time, as the daemon's
// ticker does: a call whose hangup never came is finalized by the first
// sweep past its TTL, before a later call, or only at the end when the
// interval is longer than the recording.
func TestRunSweepsAtTheConfiguredInterval(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)
	open := amiInboundAnswered("1764064800.1", t0)
	open = open[:strings.Index(open, "Event: Hangup")] // never hung up
	f := writeFile(t, dir, "ttl.ami", open+amiInboundAnswered("1764064900.7", t0.Add(time.Minute)))
	cfg := rules()
	cfg.CallTTL = 10 * time.Second
	tests := map[string]struct {
		every time.Duration
		want  string
	}{
		"every second: swept at the next call": {time.Second, "1764064800.1 1764064900.7"},
		"every hour: swept only at the end":    {time.Hour, "1764064900.7 1764064800.1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got []string
			if _, err := Run(Options{Rules: cfg, SweepEvery: tc.every}, []string{f}, func(cs mapping.CallStatus) { got = append(got, cs.LinkedID) }); err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("order %v, want %s", got, tc.want)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]struct {
		name string
		want string
	}{
		"unknown extension": {"x.txt", "replay: " + filepath.Join(dir, "x.txt") + ": unknown recording type (want *.ami or *.ari.jsonl)"},
		"missing file":      {"", "nope.ami: no such file or directory"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, "nope.ami")
			if tc.name != "" {
				p = writeFile(t, dir, tc.name, "")
			}
			_, err := Run(Options{Rules: mapping.DefaultConfig()}, []string{p}, func(mapping.CallStatus) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := Run(Options{}, nil, nil); err == nil || err.Error() != "replay: no files" {
		t.Errorf("no files: err = %v", err)
	}
}

func TestOrderAMIBeforeARIOnTies(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(src mapping.Source, order int, t time.Time) *recording {
		return &recording{source: src, order: order, head: mapping.Event{Time: t}, ok: true}
	}
	tests := map[string]struct {
		a, b *recording
		want bool // a before b
	}{
		"earlier first":              {mk(mapping.SourceARI, 0, at), mk(mapping.SourceAMI, 1, at.Add(time.Millisecond)), true},
		"tie: AMI before ARI":        {mk(mapping.SourceAMI, 1, at), mk(mapping.SourceARI, 0, at), true},
		"tie: ARI after AMI":         {mk(mapping.SourceARI, 0, at), mk(mapping.SourceAMI, 1, at), false},
		"tie, same kind: file order": {mk(mapping.SourceAMI, 0, at), mk(mapping.SourceAMI, 1, at), true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.a.before(tc.b); got != tc.want {
				t.Errorf("before = %v, want %v", got, tc.want)
			}
		})
	}
}

// The ari package's recording holds deliberately broken lines: each is
// reported with its line number and skipped; --strict stops at the first.
func TestARIRecordingWithBadLines(t *testing.T) {
	file := "../ari/testdata/replay.ari.jsonl"
	var problems []string
	sum, err := Run(Options{Rules: mapping.DefaultConfig(), Report: func(p Problem) { problems = append(problems, p.Error()) }},
		[]string{file}, func(mapping.CallStatus) {})
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) == 0 || sum.Bad[file] != len(problems) || !strings.HasPrefix(problems[0], file+": line 2: undecodable: ") {
		t.Errorf("bad %v; problems:\n%s", sum.Bad, strings.Join(problems, "\n"))
	}
	_, err = Run(Options{Rules: mapping.DefaultConfig(), Strict: true}, []string{file}, func(mapping.CallStatus) {})
	if !errors.Is(err, ErrBadInput) || !strings.HasPrefix(err.Error(), "replay: "+file+": line 2: undecodable: ") {
		t.Errorf("strict: err = %v", err)
	}
}

// This package imports only ami, ari, cel (the translator of Asterisk's own
// records, as ami and ari are of their streams) and mapping of this
// repository, and
// the engine's tests link no NATS server: both stay true as code moves.
func TestDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/callstatus/callstatus/ami": true, "github.com/callstatus/callstatus/ari": true,
		"github.com/callstatus/callstatus/mapping": true, "github.com/callstatus/callstatus/cel": true,
	}
	for _, imp := range strings.Fields(string(out)) {
		if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") && !allowed[imp] {
			t.Errorf("replay imports %s; it may import only ami, ari, cel, mapping and the standard library", imp)
		}
	}
	out, err = exec.Command(goBin, "list", "-test", "-deps", "../mapping").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "nats-server") || strings.Contains(dep, "nats.go") {
			t.Errorf("go test ./mapping links %s", dep)
		}
	}
}
