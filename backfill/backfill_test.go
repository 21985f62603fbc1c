package backfill

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstatus/callstatus/cel"
	"github.com/callstatus/callstatus/lab"
	"github.com/callstatus/callstatus/mapping"
)

// memStore serves CEL rows from memory, as the database would; fail makes
// it fail that many times first.
type memStore struct {
	mu   sync.Mutex
	rows []cel.Record
	fail int
}

func (s *memStore) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return errors.New("connection refused")
	}
	return nil
}

func (s *memStore) LinkedIDs(ctx context.Context, from, to time.Time) ([]string, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	var out []string
	for _, r := range s.rows {
		if !r.EventTime.Before(from) && r.EventTime.Before(to) && !slices.Contains(out, r.LinkedID) {
			out = append(out, r.LinkedID)
		}
	}
	return out, nil
}

func (s *memStore) Calls(ctx context.Context, ids []string) ([]cel.Record, cel.ReadStats, error) {
	var out []cel.Record
	uids := map[string]bool{}
	for _, r := range s.rows {
		if slices.Contains(ids, r.LinkedID) {
			uids[r.UniqueID] = true
		}
	}
	for _, r := range s.rows {
		if slices.Contains(ids, r.LinkedID) || uids[r.UniqueID] {
			out = append(out, r)
		}
	}
	return out, cel.ReadStats{Read: len(out)}, nil
}

type ledger map[string]bool

func (l ledger) Seen(_ context.Context, id string) (bool, error) { return l[id], nil }

// lab is every recorded scenario's CEL rows in one store and their
// queue_log lines in one file, as one PBX's day.
func labRecords(t *testing.T) (*memStore, string, int) {
	t.Helper()
	exports, _ := filepath.Glob("../testdata/recordings/*.cel.csv")
	if len(exports) < 30 {
		t.Fatalf("%d CEL exports", len(exports))
	}
	st := &memStore{}
	var qlog strings.Builder
	calls := 0
	for _, ex := range exports {
		f, err := os.Open(ex)
		if err != nil {
			t.Fatal(err)
		}
		rows, _, err := cel.ReadCSV(f, nil)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		st.rows = append(st.rows, rows...)
		q, _ := os.ReadFile(strings.TrimSuffix(ex, ".cel.csv") + ".queue_log")
		qlog.Write(q)
		s, ok := lab.Lookup(strings.TrimSuffix(filepath.Base(ex), ".cel.csv"))
		if !ok {
			t.Fatalf("%s: no such scenario", ex)
		}
		calls += len(s.Calls)
	}
	path := filepath.Join(t.TempDir(), "queue_log")
	if err := os.WriteFile(path, []byte(qlog.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return st, path, calls
}

func span(rows []cel.Record) (lo, hi time.Time) {
	for _, r := range rows {
		if lo.IsZero() || r.EventTime.Before(lo) {
			lo = r.EventTime
		}
		if r.EventTime.After(hi) {
			hi = r.EventTime
		}
	}
	return lo, hi
}

func TestWindow(t *testing.T) {
	st, qlog, calls := labRecords(t)
	lo, hi := span(st.rows)
	b := &Backfiller{Rules: lab.Rules(), Store: st, QueueLog: qlog}
	ctx := context.Background()

	t.Run("every call of the day once, backfilled, evidence in records", func(t *testing.T) {
		out, rep, err := b.Window(ctx, lo, hi.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != calls || rep.Published != calls || rep.Open != 0 {
			t.Fatalf("published %d (report %+v), want the %d lab calls", len(out), rep, calls)
		}
		ids := map[string]bool{}
		for _, cs := range out {
			if ids[cs.CallID] {
				t.Errorf("%s twice", cs.CallID)
			}
			ids[cs.CallID] = true
			if !cs.Backfilled {
				t.Errorf("%s not marked backfilled", cs.CallID)
			}
			for _, ev := range cs.Evidence.Events {
				if !strings.HasPrefix(ev, "cel:") && !strings.HasPrefix(ev, "queue_log:") {
					t.Errorf("%s: evidence %q", cs.CallID, ev)
				}
			}
		}
	})
	t.Run("the ledger's calls are not published again", func(t *testing.T) {
		all, _, _ := b.Window(ctx, lo, hi.Add(time.Second))
		l := ledger{all[0].CallID: true, all[3].CallID: true}
		b2 := *b
		b2.Ledger = l
		out, rep, err := b2.Window(ctx, lo, hi.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != len(all)-2 || rep.InLedger != 2 {
			t.Fatalf("published %d, in ledger %d; want %d and 2", len(out), rep.InLedger, len(all)-2)
		}
		for _, cs := range out {
			if l[cs.CallID] {
				t.Errorf("%s published though the ledger has it", cs.CallID)
			}
		}
	})
	t.Run("only calls that ended in the window", func(t *testing.T) {
		mid := lo.Add(hi.Sub(lo) / 2)
		a, _, _ := b.Window(ctx, lo, mid)
		c, _, _ := b.Window(ctx, mid, hi.Add(time.Second))
		if len(a)+len(c) != calls {
			t.Fatalf("%d + %d calls in the two halves, want %d", len(a), len(c), calls)
		}
		for _, cs := range a {
			if !cs.End.Before(mid) {
				t.Errorf("%s ended at %s, after the window", cs.CallID, cs.End)
			}
		}
	})
}

// A database down at first: the runner retries with backoff, says so for
// /readyz, then publishes the gap's calls once.
func TestRunnerRetries(t *testing.T) {
	st, qlog, calls := labRecords(t)
	st.fail = 2
	lo, hi := span(st.rows)
	dir := t.TempDir()
	var mu sync.Mutex
	var got []mapping.CallStatus
	tr := NewTracker(lo, true, 24*time.Hour, func() time.Time { return hi })
	r := &Runner{B: &Backfiller{Rules: lab.Rules(), Store: st, QueueLog: qlog}, Tracker: tr,
		Emit:     func(cs mapping.CallStatus) { mu.Lock(); got = append(got, cs); mu.Unlock() },
		RetryMax: time.Second, DataDir: dir, SaveEvery: 10 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	// The daemon's first event after its start ends the restart gap.
	tr.Observe(&mapping.Event{Kind: mapping.SourceUp, Source: mapping.SourceAMI, Time: hi.Add(time.Second)})
	sawProblem := false
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == calls {
			break
		}
		if r.Problem() != "" {
			sawProblem = true
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d calls after %v (stats %+v)", n, calls, ctx.Err(), r.Stats())
		case <-time.After(5 * time.Millisecond):
		}
	}
	if s := r.Stats(); s.Failures != 2 || s.Windows != 1 || !sawProblem || r.Problem() != "" {
		t.Errorf("stats %+v, problem seen %v, now %q", s, sawProblem, r.Problem())
	}
	cancel()
	<-done
	last, ok, err := LoadState(dir)
	if err != nil || !ok || !last.Equal(hi.Add(time.Second)) {
		t.Errorf("state = %s %v %v, want the last event %s", last, ok, err, hi.Add(time.Second))
	}
}

func TestTrackerGaps(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	tr := NewTracker(time.Time{}, false, time.Hour, func() time.Time { return t0 })
	ev := func(k mapping.Kind, src mapping.Source, at time.Duration) {
		tr.Observe(&mapping.Event{Kind: k, Source: src, Time: t0.Add(at)})
	}
	ev(mapping.SourceUp, mapping.SourceAMI, time.Second)
	ev(mapping.ChannelCreated, mapping.SourceAMI, 2*time.Second)
	ev(mapping.SourceDown, mapping.SourceAMI, 10*time.Second)
	ev(mapping.SourceDown, mapping.SourceAMI, 11*time.Second) // still down: the gap began at 10 s
	ev(mapping.SourceUp, mapping.SourceAMI, 30*time.Second)
	ctx := context.Background()
	want := []Gap{{From: t0.Add(-time.Hour), To: t0.Add(time.Second), Why: "first_start"},
		{From: t0.Add(10 * time.Second), To: t0.Add(30 * time.Second), Why: "ami_down"}}
	for _, w := range want {
		g, _ := tr.next(ctx)
		if g != w {
			t.Errorf("gap %+v, want %+v", g, w)
		}
	}
	if !tr.Last().Equal(t0.Add(30 * time.Second)) {
		t.Errorf("last = %s", tr.Last())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := map[string]struct {
		mod  func(*Config)
		want string
	}{
		"off needs nothing":    {mod: func(c *Config) { c.Enabled = false; c.DSN = "" }},
		"on needs a dsn":       {mod: func(c *Config) { c.DSN = "" }, want: "backfill.dsn must be set when backfill.enabled"},
		"horizon of seconds":   {mod: func(c *Config) { c.Horizon = 5 * time.Second }, want: "backfill.horizon must be at least 1m, got 5s"},
		"both passwords":       {mod: func(c *Config) { c.Password, c.PasswordFile = "x", "/run/secrets/pg" }, want: "backfill.password and backfill.password_file are exclusive"},
		"zone that is not one": {mod: func(c *Config) { c.Timezone = "Mars/Olympus" }, want: `backfill.timezone "Mars/Olympus"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			c.Enabled, c.DSN = true, "postgres://callstatus@127.0.0.1/asterisk"
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// Shadow: every lab call derived from CEL agrees with itself; a live
// status that says otherwise is counted as a disagreement, one CEL does
// not have as missing.
func TestShadow(t *testing.T) {
	st, qlog, _ := labRecords(t)
	lo, hi := span(st.rows)
	b := &Backfiller{Rules: lab.Rules(), Store: st, QueueLog: qlog}
	live, _, err := b.Window(context.Background(), lo, hi.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	live[0].Status, live[0].Reason = mapping.Missed, "NOANSWER" // the live engine got it wrong
	ghost := live[1]
	ghost.CallID, ghost.LinkedID = "lab:lab-0.0", "lab-0.0"
	live = append(live, ghost)

	var mu sync.Mutex
	counts := map[string]int{}
	sh := &Shadow{B: b, Delay: 0, Count: func(rule, result string) {
		mu.Lock()
		counts[result]++
		mu.Unlock()
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sh.Run(ctx)
	for _, cs := range live {
		sh.Check(cs, time.Now())
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := counts["agree"] + counts["disagree"] + counts["missing"]
		mu.Unlock()
		if n == len(live) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d compared: %v", n, len(live), counts)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if counts["agree"] != len(live)-2 || counts["disagree"] != 1 || counts["missing"] != 1 {
		t.Errorf("counts %v, want %d agree, 1 disagree, 1 missing", counts, len(live)-2)
	}
}

// Two engines may name one merged call by different linkedids: the shadow
// pairs them by a channel in common.
func TestShadowSameCall(t *testing.T) {
	live := mapping.CallStatus{CallID: "lab:1.1", UniqueIDs: []string{"1.1", "1.2", "2.1"}}
	tests := map[string]struct {
		cel  mapping.CallStatus
		want bool
	}{
		"same call id":                       {mapping.CallStatus{CallID: "lab:1.1"}, true},
		"named by the merged call":           {mapping.CallStatus{CallID: "lab:2.1", UniqueIDs: []string{"2.1", "2.2"}}, true},
		"another call, no channel in common": {mapping.CallStatus{CallID: "lab:3.1", UniqueIDs: []string{"3.1"}}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := sameCall(tc.cel, live); got != tc.want {
				t.Errorf("sameCall = %v, want %v", got, tc.want)
			}
		})
	}
}
