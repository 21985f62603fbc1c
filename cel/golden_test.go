package cel_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callstatus/callstatus/cel"
	"github.com/callstatus/callstatus/lab"
	"github.com/callstatus/callstatus/mapping"
)

type manifestCall struct {
	Description string `json:"description"`
	Category    string `json:"category"`
	Status      string `json:"status"`
	Reason      string `json:"reason"`
	From        string `json:"from"`
	To          string `json:"to"`
	Direction   string `json:"direction"`
}

type manifest struct {
	Scenario string         `json:"scenario"`
	Calls    []manifestCall `json:"calls"`
}

// replayRecords runs a scenario's CEL export and queue_log through the
// translator and a fresh engine with the lab's rules.
func replayRecords(t *testing.T, base string) ([]mapping.CallStatus, *cel.Result) {
	t.Helper()
	f, err := os.Open(base + ".cel.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, rst, err := cel.ReadCSV(f, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if rst.Bad != 0 {
		t.Errorf("%d bad CEL rows: %s", rst.Bad, rst.FirstBad)
	}
	var lines []cel.QueueLine
	if q, err := os.Open(base + ".queue_log"); err == nil {
		var qst cel.ReadStats
		lines, qst, err = cel.ReadQueueLog(q)
		q.Close()
		if err != nil {
			t.Fatal(err)
		}
		if qst.Bad != 0 {
			t.Errorf("%d bad queue_log lines: %s", qst.Bad, qst.FirstBad)
		}
	}
	res := cel.Translate(rows, lines, cel.Options{QueueLog: true})
	if res.Stats.Unknown != 0 {
		t.Errorf("%d unknown records", res.Stats.Unknown)
	}
	m := mapping.New(lab.Rules())
	var got []mapping.CallStatus
	var last time.Time
	for _, e := range res.Events {
		got = append(got, m.Apply(e)...)
		last = e.Time
	}
	// Every call of a scenario ends inside its records: a far sweep must
	// find nothing left, or a hangup was lost in translation.
	if left := m.Sweep(last.Add(24 * time.Hour)); len(left) != 0 {
		for _, cs := range left {
			t.Errorf("call %s still open after its records (%s/%s)", cs.CallID, cs.Category, cs.Status)
		}
	}
	for i := range got {
		res.Relabel(&got[i])
	}
	return got, res
}

// recordings is ../testdata/recordings, or $CALLSTATUS_RECORDINGS (fresh
// ones from callstatus-lab record).
func recordings() string {
	if d := os.Getenv("CALLSTATUS_RECORDINGS"); d != "" {
		return d
	}
	return "../testdata/recordings"
}

// What CEL and queue_log alone cannot tell, per scenario, and what the
// backfill reports instead. Every other scenario must match its manifest.
var celReports = map[string]map[string]string{}

// Every lab recording with a CEL export (NAME.cel.csv, NAME.queue_log)
// translates to its answer key (NAME.manifest.json).
func TestRecordings(t *testing.T) {
	exports, _ := filepath.Glob(filepath.Join(recordings(), "*.cel.csv"))
	if len(exports) < 30 {
		t.Fatalf("found %d CEL exports, want every lab scenario", len(exports))
	}
	for _, ex := range exports {
		base := strings.TrimSuffix(ex, ".cel.csv")
		name := filepath.Base(base)
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(base + ".manifest.json")
			if err != nil {
				t.Fatal(err)
			}
			var m manifest
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			got, _ := replayRecords(t, base)
			calls := m.Calls
			checkManifest(t, calls, got, celReports[name])
			for _, cs := range got {
				for _, ev := range cs.Evidence.Events {
					if !strings.HasPrefix(ev, "cel:") && !strings.HasPrefix(ev, "queue_log:") {
						t.Errorf("%s: evidence %q names no record", cs.CallID, ev)
					}
				}
			}
		})
	}
}

func checkManifest(t *testing.T, calls []manifestCall, got []mapping.CallStatus, instead map[string]string) {
	t.Helper()
	used := map[int]bool{}
	for _, c := range calls {
		idx := -1
		for i, cs := range got {
			if !used[i] && (cs.From.Number == c.From || (c.To != "" && cs.To.Number == c.To)) {
				idx = i
				break
			}
		}
		if idx < 0 {
			t.Errorf("no status for %q (%s → %s)", c.Description, c.From, c.To)
			continue
		}
		used[idx] = true
		cs := got[idx]
		want := c.Category + "/" + c.Status
		if w, ok := instead[c.Description]; ok {
			want = w
		} else if c.Reason != "" {
			want += " " + c.Reason
		}
		have := string(cs.Category) + "/" + string(cs.Status)
		if strings.Contains(want, " ") {
			have += " " + cs.Reason
		}
		if have != want || (c.Direction != "" && string(cs.Direction) != c.Direction) {
			t.Errorf("%q\n  want %s direction=%s\n   got %s reason=%s direction=%s rule=%s evidence=%v", c.Description,
				want, c.Direction, have, cs.Reason, cs.Direction, cs.Evidence.Rule, cs.Evidence.Events)
		}
	}
	for i, cs := range got {
		if !used[i] {
			t.Errorf("unexpected status %s %s/%s from=%q to=%q", cs.CallID, cs.Category, cs.Status, cs.From.Number, cs.To.Number)
		}
	}
}

// The backfill's statuses agree with the live engine's (NAME.golden.jsonl,
// from AMI+ARI of another run of the same scenario) on everything a
// consumer keys on: category, status, reason, direction, agent.
func TestAgreesWithLive(t *testing.T) {
	exports, _ := filepath.Glob(filepath.Join(recordings(), "*.cel.csv"))
	agree, total := 0, 0
	for _, ex := range exports {
		base := strings.TrimSuffix(ex, ".cel.csv")
		body, err := os.ReadFile(base + ".golden.jsonl")
		if err != nil {
			continue // a scenario recorded for CEL only
		}
		var live []mapping.CallStatus
		dec := json.NewDecoder(strings.NewReader(string(body)))
		for dec.More() {
			var cs mapping.CallStatus
			if err := dec.Decode(&cs); err != nil {
				t.Fatal(err)
			}
			live = append(live, cs)
		}
		got, _ := replayRecords(t, base)
		key := func(cs mapping.CallStatus) string {
			agent := ""
			if cs.Agent != nil {
				agent = cs.Agent.Number
			}
			return fmt.Sprintf("%s/%s reason=%s direction=%s from=%s to=%s agent=%s queuestatus=%s transferred=%s",
				cs.Category, cs.Status, cs.Reason, cs.Direction, cs.From.Number, cs.To.Number, agent, cs.QueueStatus, cs.Transferred)
		}
		var lk, gk []string
		for _, cs := range live {
			lk = append(lk, key(cs))
		}
		for _, cs := range got {
			gk = append(gk, key(cs))
		}
		slices.Sort(lk)
		slices.Sort(gk)
		for i := range max(len(lk), len(gk)) {
			total++
			var l, g string
			if i < len(lk) {
				l = lk[i]
			}
			if i < len(gk) {
				g = gk[i]
			}
			if l == g {
				agree++
				continue
			}
			t.Errorf("%s: live and backfill disagree\n live %s\n  cel %s", filepath.Base(base), l, g)
		}
	}
	t.Logf("backfill agrees with live on %d of %d calls", agree, total)
}

// An attended transfer whose CEL row names its target "N/A" (Asterisk
// 22 under load: the target had already moved to the transferee's
// bridge). The rows are one lab run's, as the shadow read them from
// PostgreSQL (caller ids filled in from the same run's events). The call
// still ends with its own eight channels, as the live status did; before,
// a channel "N/A" was invented and the call never ended.
func TestAttendedTransferWithTargetNA(t *testing.T) {
	got, _ := replayRecords(t, "testdata/transfer-attended-target-na")
	if len(got) != 1 {
		t.Fatalf("%d statuses, want 1: %+v", len(got), got)
	}
	cs := got[0]
	if cs.Category != mapping.Inbound || cs.Status != mapping.Answered || cs.Transferred != "attended" || len(cs.UniqueIDs) != 8 {
		t.Errorf("got %s/%s transferred %q with %d channels, want inbound/answered, attended, 8 channels",
			cs.Category, cs.Status, cs.Transferred, len(cs.UniqueIDs))
	}
	if slices.Contains(cs.UniqueIDs, "N/A") {
		t.Errorf("uniqueids %v hold N/A", cs.UniqueIDs)
	}
}
