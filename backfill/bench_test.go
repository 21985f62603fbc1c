package backfill

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstatus/callstatus/cel"
	"github.com/callstatus/callstatus/lab"
)

// BenchmarkBackfillPostgres: a backfill of 10,000 calls from PostgreSQL.
// The lab container's database is filled with copies of every recorded
// scenario's CEL rows (ids, bridges and times shifted, so each copy is a
// call of its own), its queue_log with the copies' lines; one op is
// Window over the whole span: the queries through pgx, the translation and
// the engine.
//
//	go test ./backfill -run '^$' -bench BackfillPostgres -benchtime 3x
func BenchmarkBackfillPostgres(b *testing.B) {
	const want = 10000
	exports, _ := filepath.Glob("../testdata/recordings/*.cel.csv")
	var tmpl []cel.Record
	var qtmpl []cel.QueueLine
	perCopy := 0
	for _, ex := range exports {
		f, err := os.Open(ex)
		if err != nil {
			b.Fatal(err)
		}
		rows, _, err := cel.ReadCSV(f, nil)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		tmpl = append(tmpl, rows...)
		if q, err := os.Open(strings.TrimSuffix(ex, ".cel.csv") + ".queue_log"); err == nil {
			lines, _, _ := cel.ReadQueueLog(q)
			q.Close()
			qtmpl = append(qtmpl, lines...)
		}
		s, _ := lab.Lookup(strings.TrimSuffix(filepath.Base(ex), ".cel.csv"))
		perCopy += len(s.Calls)
	}
	lo, hi := span(tmpl)
	step := hi.Sub(lo).Truncate(time.Minute) + time.Minute
	copies := (want + perCopy - 1) / perCopy

	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"eventtype", "eventtime", "userdeftype", "cid_name", "cid_num", "cid_ani", "cid_rdnis", "cid_dnid",
		"exten", "context", "channame", "appname", "appdata", "amaflags", "accountcode", "peeraccount", "uniqueid",
		"linkedid", "userfield", "peer", "extra"})
	var qlog strings.Builder
	for k := range copies {
		id := func(s string) string { return strings.ReplaceAll(s, "lab-", "c"+strconv.Itoa(k)+"-") }
		shift := time.Duration(k) * step
		for _, r := range tmpl {
			extra := strings.ReplaceAll(id(r.Extra), `"bridge_id":"`, `"bridge_id":"c`+strconv.Itoa(k)+`-`)
			w.Write([]string{r.EventType, r.EventTime.Add(shift).Format(cel.TimeLayout), r.UserDefType, r.CIDName, r.CIDNum,
				r.CIDANI, r.CIDRDNIS, r.CIDDNID, r.Exten, r.Context, r.ChanName, r.AppName, r.AppData,
				strconv.Itoa(r.AMAFlags), r.AccountCode, r.PeerAccount, id(r.UniqueID), id(r.LinkedID), r.UserField,
				r.Peer, extra})
		}
		for _, q := range qtmpl {
			fmt.Fprintf(&qlog, "%d|%s|%s|%s|%s|%s\n", q.Time.Add(shift).Unix(), id(q.CallID), q.Queue, q.Agent, q.Event,
				id(strings.Join(q.Data, "|")))
		}
	}
	w.Flush()
	qpath := filepath.Join(b.TempDir(), "queue_log")
	if err := os.WriteFile(qpath, []byte(qlog.String()), 0o644); err != nil {
		b.Fatal(err)
	}

	a := lab.StartAsterisk(b)
	load := exec.Command("docker", "exec", "-i", "-u", "postgres", a.Container, "psql", "-q", "-v", "ON_ERROR_STOP=1",
		"-d", lab.CELDatabase, "-c", `\copy cel (eventtype, eventtime, userdeftype, cid_name, cid_num, cid_ani, cid_rdnis, cid_dnid, exten, context, channame, appname, appdata, amaflags, accountcode, peeraccount, uniqueid, linkedid, userfield, peer, extra) from stdin with (format csv, header true, force_not_null *)`,
		"-c", "analyze cel")
	load.Stdin = &buf
	if out, err := load.CombinedOutput(); err != nil {
		b.Fatalf("load CEL rows: %v: %s", err, out)
	}
	ctx := context.Background()
	store := NewDBStore(Config{DSN: a.PGDSN, Table: "cel", Timezone: "UTC"})
	defer store.Close()
	bf := &Backfiller{Rules: lab.Rules(), Store: store, QueueLog: qpath}
	from, to := lo, hi.Add(time.Duration(copies)*step)
	b.ResetTimer()
	var rep Report
	for b.Loop() {
		out, r, err := bf.Window(ctx, from, to)
		if err != nil {
			b.Fatal(err)
		}
		if len(out) != copies*perCopy {
			b.Fatalf("%d calls backfilled, want %d (report %+v)", len(out), copies*perCopy, r)
		}
		rep = r
	}
	b.ReportMetric(float64(rep.Published), "calls")
	b.ReportMetric(float64(rep.Rows), "rows")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/backfill")
}
