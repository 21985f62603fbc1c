package lab

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callstatus/callstatus/cel"
	"github.com/callstatus/callstatus/mapping"
)

// TestCELBackfill places real calls and reads them back the way the
// daemon's backfill does: CEL rows from the container's PostgreSQL through
// the published port (Asterisk -> cel_pgsql -> PostgreSQL -> pgx), the
// queue_log file, the translator and a fresh engine. Each call comes out
// with its scenario's status.
func TestCELBackfill(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: needs Docker")
	}
	a := StartAsterisk(t)
	if a.PGDSN == "" {
		t.Fatal("lab Asterisk has no PostgreSQL DSN")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d, err := NewDriver(ctx, DriverConfig{Container: a.Container, AMIAddr: a.AMIAddr, ARIURL: a.ARIURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })

	names := []string{"outbound-connected", "inbound-missed-busy", "ringgroup-missed", "queue-handled",
		"queue-overflow-handled", "queue-joinempty", "outbound-vmdrop-ari", "transfer-blind"}
	from := time.Now().Add(-time.Second)
	errs := make(chan error, len(names))
	for _, n := range names {
		go func() { errs <- d.Run(ctx, n) }()
	}
	for range names {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := d.WaitIdle(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	to := time.Now().Add(time.Second)

	db, err := cel.Open(ctx, a.PGDSN, "", "cel", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// cel_pgsql inserts as Asterisk goes; wait until the last call's
	// LINKEDID_END is there rather than for a fixed time.
	var rows []cel.Record
	for {
		ids, err := db.LinkedIDs(ctx, from, to)
		if err != nil {
			t.Fatal(err)
		}
		var st cel.ReadStats
		rows, st, err = db.Calls(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		if st.Bad != 0 {
			t.Fatalf("%d bad rows: %s", st.Bad, st.FirstBad)
		}
		ended := map[string]bool{}
		for _, r := range rows {
			if r.EventType == "LINKEDID_END" {
				ended[r.LinkedID] = true
			}
		}
		if len(ids) > 0 && len(ended) == len(ids) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("CEL rows of %d linkedids, %d ended: %v", len(ids), len(ended), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	qlog, err := a.Exec("cat", QueueLogPath)
	if err != nil {
		t.Fatal(err)
	}
	lines, qst, err := cel.ReadQueueLog(strings.NewReader(qlog))
	if err != nil || qst.Bad != 0 {
		t.Fatalf("queue_log: %v, %d bad (%s)", err, qst.Bad, qst.FirstBad)
	}
	res := cel.Translate(rows, lines, cel.Options{QueueLog: true})
	m := mapping.New(Rules())
	var got []mapping.CallStatus
	for _, e := range res.Events {
		got = append(got, m.Apply(e)...)
	}
	if m.Active() != 0 {
		t.Errorf("%d calls still open after their LINKEDID_END", m.Active())
	}
	used := map[int]bool{}
	for _, n := range names {
		s, _ := Lookup(n)
		for _, c := range s.Calls {
			idx := -1
			for i, cs := range got {
				if !used[i] && (cs.From.Number == c.From || cs.To.Number == c.To) {
					idx = i
					break
				}
			}
			if idx < 0 {
				t.Errorf("%s: no status for %q", n, c.Description)
				continue
			}
			used[idx] = true
			cs := got[idx]
			if string(cs.Category) != c.Category || string(cs.Status) != c.Status || (c.Reason != "" && cs.Reason != c.Reason) {
				t.Errorf("%s: %q: got %s/%s %s (%s), want %s/%s %s", n, c.Description, cs.Category, cs.Status,
					cs.Reason, cs.Evidence.Rule, c.Category, c.Status, c.Reason)
			}
		}
	}
	if len(used) != len(got) {
		t.Errorf("%d statuses for %d calls", len(got), len(used))
	}
}
