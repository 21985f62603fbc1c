// Package cel turns Asterisk's own records of its calls - CEL rows (Channel
// Event Logging, as cel_pgsql writes them) and queue_log lines - into
// mapping.Events, so the engine that classifies live AMI/ARI traffic can
// classify calls nobody was listening to: a backfill after the daemon was
// down, or an export from a site replayed on a laptop.
//
// Reading (ReadCSV, ReadQueueLog, the PostgreSQL reader) is apart from
// translating (Translate): the translator is pure and takes the records of
// whole calls, because a CEL row alone does not say who dialed whom or how a
// dial ended; the rows around it do.
package cel

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Record is one CEL row (the columns of asterisk-conf/cel.sql).
type Record struct {
	ID          int64
	EventType   string // CHAN_START, ANSWER, HANGUP, APP_START...
	EventTime   time.Time
	UserDefType string
	CIDName     string
	CIDNum      string
	CIDANI      string
	CIDRDNIS    string
	CIDDNID     string
	Exten       string
	Context     string
	ChanName    string
	AppName     string
	AppData     string
	AMAFlags    int
	AccountCode string
	PeerAccount string
	UniqueID    string
	LinkedID    string
	UserField   string
	Peer        string
	// Extra is the event's JSON detail (HANGUP: hangupcause, hangupsource,
	// dialstatus; BRIDGE_*: bridge_id; transfers: the channels involved).
	Extra string
}

// Label names the row in a status's evidence: cel:<id>:<eventtype>.
func (r Record) Label() string {
	return "cel:" + strconv.FormatInt(r.ID, 10) + ":" + r.EventType
}

// QueueLine is one queue_log line: time|callid|queue|agent|event|data...
type QueueLine struct {
	// N is the line's number in its file (1-based), or its row id when
	// read from a database.
	N      int64
	Time   time.Time // whole seconds: the file has no finer time
	CallID string    // the caller channel's uniqueid (NONE for queue events)
	Queue  string
	Agent  string
	Event  string
	Data   []string
}

// Label names the line in a status's evidence: queue_log:<n>:<event>.
func (q QueueLine) Label() string {
	return "queue_log:" + strconv.FormatInt(q.N, 10) + ":" + q.Event
}

// ErrBadRecord marks a row or line that cannot be read; readers count and
// skip them.
var ErrBadRecord = errors.New("cel: bad record")

// TimeLayout is how cel_pgsql writes eventtime (and psql exports a
// timestamp column): no zone.
const TimeLayout = "2006-01-02 15:04:05.999999"

// ParseTime reads an eventtime in loc (UTC when cel_pgsql.conf says
// usegmtime = yes, as asterisk-conf does). It takes psql's export form and
// RFC 3339.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.ParseInLocation(TimeLayout, s, loc); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02 15:04:05.999999-07", s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%w: eventtime %q", ErrBadRecord, s)
}

// columns are the CEL columns a reader knows; others are ignored.
var columns = []string{"id", "eventtype", "eventtime", "userdeftype", "cid_name", "cid_num", "cid_ani",
	"cid_rdnis", "cid_dnid", "exten", "context", "channame", "appname", "appdata", "amaflags",
	"accountcode", "peeraccount", "uniqueid", "linkedid", "userfield", "peer", "extra"}

// fromColumns builds a Record from named values (a CSV row or a database
// row read as text).
func fromColumns(get func(col string) (string, bool), loc *time.Location) (Record, error) {
	var r Record
	s := func(col string) string { v, _ := get(col); return v }
	if v, ok := get("id"); ok && v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return r, fmt.Errorf("%w: id %q", ErrBadRecord, v)
		}
		r.ID = id
	}
	r.EventType = strings.TrimSpace(s("eventtype"))
	if r.EventType == "" {
		return r, fmt.Errorf("%w: no eventtype", ErrBadRecord)
	}
	t, err := ParseTime(s("eventtime"), loc)
	if err != nil {
		return r, err
	}
	r.EventTime = t
	r.UserDefType, r.CIDName, r.CIDNum, r.CIDANI = s("userdeftype"), s("cid_name"), s("cid_num"), s("cid_ani")
	r.CIDRDNIS, r.CIDDNID, r.Exten, r.Context = s("cid_rdnis"), s("cid_dnid"), s("exten"), s("context")
	r.ChanName, r.AppName, r.AppData = s("channame"), s("appname"), s("appdata")
	if v := s("amaflags"); v != "" {
		r.AMAFlags, _ = strconv.Atoi(v)
	}
	r.AccountCode, r.PeerAccount = s("accountcode"), s("peeraccount")
	r.UniqueID, r.LinkedID = s("uniqueid"), s("linkedid")
	r.UserField, r.Peer, r.Extra = s("userfield"), s("peer"), s("extra")
	if r.UniqueID == "" {
		return r, fmt.Errorf("%w: row %d has no uniqueid", ErrBadRecord, r.ID)
	}
	if r.LinkedID == "" {
		r.LinkedID = r.UniqueID
	}
	return r, nil
}

// ReadStats counts what a reader did with its input.
type ReadStats struct {
	Read int // rows or lines returned
	Bad  int // rows or lines that could not be read (skipped)
	// FirstBad describes the first bad one, for a log line.
	FirstBad string
}

func (s *ReadStats) bad(where string, err error) {
	s.Bad++
	if s.FirstBad == "" {
		s.FirstBad = where + ": " + err.Error()
	}
}

// ReadCSV reads a CEL export with a header row, as psql writes it:
// \copy (select * from cel where ...) to 'x.cel.csv' csv header. Columns are
// found by name, so any column order or extra columns will do; rows that do
// not read are counted and skipped. Times are in loc (nil: UTC).
func ReadCSV(r io.Reader, loc *time.Location) ([]Record, ReadStats, error) {
	return readCSV(r, loc, nil)
}

// onBad hears of each bad row or line (its line number); an error stops the
// reading.
type onBad func(line int64, err error) error

func readCSV(r io.Reader, loc *time.Location, report onBad) ([]Record, ReadStats, error) {
	if loc == nil {
		loc = time.UTC
	}
	var st ReadStats
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, st, nil
	}
	if err != nil {
		return nil, st, fmt.Errorf("cel: csv header: %w", err)
	}
	idx := make(map[string]int, len(header))
	for i, h := range header {
		idx[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, need := range []string{"eventtype", "eventtime", "uniqueid"} {
		if _, ok := idx[need]; !ok {
			return nil, st, fmt.Errorf("cel: csv header has no %q column (got %s)", need, strings.Join(header, ","))
		}
	}
	var out []Record
	for line := 2; ; line++ {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				st.bad(fmt.Sprintf("line %d", line), err)
				if report != nil {
					if err := report(int64(line), err); err != nil {
						return out, st, err
					}
				}
				continue
			}
			return out, st, fmt.Errorf("cel: csv: %w", err)
		}
		rec, err := fromColumns(func(col string) (string, bool) {
			i, ok := idx[col]
			if !ok || i >= len(row) {
				return "", false
			}
			return row[i], true
		}, loc)
		if err != nil {
			st.bad(fmt.Sprintf("line %d", line), err)
			if report != nil {
				if err := report(int64(line), err); err != nil {
					return out, st, err
				}
			}
			continue
		}
		if rec.ID == 0 {
			rec.ID = int64(line - 1)
		}
		out = append(out, rec)
		st.Read++
	}
	return out, st, nil
}

// ParseQueueLine reads one queue_log line as Asterisk writes it to the file:
// unix-seconds|callid|queue|agent|event|data1|data2|...
func ParseQueueLine(s string) (QueueLine, error) {
	s = strings.TrimRight(s, "\r\n")
	f := strings.Split(s, "|")
	if len(f) < 5 {
		return QueueLine{}, fmt.Errorf("%w: queue_log %q: want time|callid|queue|agent|event", ErrBadRecord, s)
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(f[0]), 10, 64)
	if err != nil || sec < 0 {
		return QueueLine{}, fmt.Errorf("%w: queue_log time %q", ErrBadRecord, f[0])
	}
	q := QueueLine{Time: time.Unix(sec, 0).UTC(), CallID: f[1], Queue: f[2], Agent: f[3], Event: strings.TrimSpace(f[4])}
	if q.Event == "" {
		return QueueLine{}, fmt.Errorf("%w: queue_log %q: no event", ErrBadRecord, s)
	}
	if len(f) > 5 {
		q.Data = f[5:]
	}
	return q, nil
}

// ReadQueueLog reads a queue_log file; lines that do not read are counted
// and skipped, blank lines ignored.
func ReadQueueLog(r io.Reader) ([]QueueLine, ReadStats, error) {
	return readQueueLog(r, nil)
}

func readQueueLog(r io.Reader, report onBad) ([]QueueLine, ReadStats, error) {
	var st ReadStats
	var out []QueueLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var n int64
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		q, err := ParseQueueLine(line)
		if err != nil {
			st.bad(fmt.Sprintf("line %d", n), err)
			if report != nil {
				if err := report(n, err); err != nil {
					return out, st, err
				}
			}
			continue
		}
		q.N = n
		out = append(out, q)
		st.Read++
	}
	if err := sc.Err(); err != nil {
		return out, st, fmt.Errorf("cel: queue_log: %w", err)
	}
	return out, st, nil
}

// data returns the i-th data field (0-based), "" when absent.
func (q QueueLine) data(i int) string {
	if i < len(q.Data) {
		return q.Data[i]
	}
	return ""
}

// IsCSV: a CEL export (*.csv, normally NAME.cel.csv).
func IsCSV(name string) bool { return strings.HasSuffix(name, ".csv") }

// IsQueueLog: a queue_log file (queue_log, queue_log.1, NAME.queue_log).
func IsQueueLog(name string) bool {
	base := name[strings.LastIndexAny(name, `/\`)+1:]
	return base == "queue_log" || strings.HasPrefix(base, "queue_log.") || strings.HasSuffix(base, ".queue_log")
}

// ReadFiles reads CEL exports and queue_log files and translates them
// together, as one period of one PBX (Options.QueueLog is set when a
// queue_log is among them). bad hears of every row or line that does not
// read, with its file and line; an error from it stops the reading. Times
// without a zone are in loc (nil: UTC).
func ReadFiles(names []string, loc *time.Location, bad func(file string, line int64, err error) error) (*Result, error) {
	var recs []Record
	var lines []QueueLine
	opts := Options{}
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("cel: %w", err)
		}
		report := func(line int64, err error) error {
			if bad == nil {
				return nil
			}
			return bad(name, line, err)
		}
		switch {
		case IsQueueLog(name):
			opts.QueueLog = true
			var l []QueueLine
			l, _, err = readQueueLog(f, report)
			lines = append(lines, l...)
		case IsCSV(name):
			var r []Record
			r, _, err = readCSV(f, loc, report)
			recs = append(recs, r...)
		default:
			err = fmt.Errorf("cel: %s: neither a CEL export (*.csv) nor a queue_log", name)
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return Translate(recs, lines, opts), nil
}
