package adapter

import (
	"os"
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

func TestReplayAMI(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)
	rec := "Asterisk Call Manager/9.0.0\r\n" + amiInboundAnswered("1764064800.1", t0) + amiInboundAnswered("1764064900.7", t0.Add(time.Minute))
	f := writeFile(t, dir, "two.ami", rec)
	cfg := mapping.DefaultConfig()
	cfg.PBXID = "lab"
	var got []mapping.CallStatus
	if err := Replay(cfg, []string{f}, func(cs mapping.CallStatus) { got = append(got, cs) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d statuses, want 2: %+v", len(got), got)
	}
	for i, id := range []string{"lab:1764064800.1", "lab:1764064900.7"} {
		if got[i].CallID != id || got[i].Category != mapping.Inbound || got[i].Status != mapping.Answered {
			t.Errorf("status %d: %s %s %s, want %s inbound answered", i, got[i].CallID, got[i].Category, got[i].Status, id)
		}
	}
}

func TestReplayMergesByTimestamp(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)
	// Two AMI files whose calls interleave in time: the merge must
	// give the same statuses as one file.
	a := writeFile(t, dir, "a.ami", amiInboundAnswered("1764064800.1", t0))
	b := writeFile(t, dir, "b.ami", amiInboundAnswered("1764064800.2", t0.Add(50*time.Millisecond)))
	var got []string
	if err := Replay(mapping.DefaultConfig(), []string{a, b}, func(cs mapping.CallStatus) { got = append(got, cs.LinkedID+"="+string(cs.Status)) }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "1764064800.1=answered 1764064800.2=answered" {
		t.Errorf("got %v", got)
	}
}

func TestReplayErrors(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)
	full := amiInboundAnswered("1.1", t0)
	tests := map[string]struct {
		name, body string
		want       string
	}{
		"unknown extension": {"x.txt", "", "x.txt: unknown recording type (want *.ami or *.ari.jsonl)"},
		"truncated ami":     {"cut.ami", full[:len(full)-30], "cut.ami: frame 9: truncated at end of file"},
		"bad ari line":      {"bad.ari.jsonl", "\n{\"type\":\"ChannelCreated\",\"channel\":\n", "bad.ari.jsonl: line 2: ari: not an ARI event"},
		"missing file":      {"", "", "nope.ami: no such file or directory"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, "nope.ami")
			if tc.name != "" {
				p = writeFile(t, dir, tc.name, tc.body)
			}
			err := Replay(mapping.DefaultConfig(), []string{p}, func(mapping.CallStatus) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestReplayARIRecording(t *testing.T) {
	// The ari package's recording: skip nothing silently, fail on the
	// broken line it deliberately holds.
	err := Replay(mapping.DefaultConfig(), []string{"../ari/testdata/replay.ari.jsonl"}, func(mapping.CallStatus) {})
	if err == nil || !strings.Contains(err.Error(), "replay.ari.jsonl: line 2:") {
		t.Errorf("err = %v", err)
	}
}

func TestReplayOrderAMIBeforeARIOnTies(t *testing.T) {
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
