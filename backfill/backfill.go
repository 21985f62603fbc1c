package backfill

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/callstatus/callstatus/cel"
	"github.com/callstatus/callstatus/mapping"
)

// Store reads CEL rows: *cel.DB, or a fake in tests.
type Store interface {
	// LinkedIDs with a row in [from, to).
	LinkedIDs(ctx context.Context, from, to time.Time) ([]string, error)
	// Calls: every row of these linkedids (and of the channels in them).
	Calls(ctx context.Context, linkedids []string) ([]cel.Record, cel.ReadStats, error)
}

// Ledger knows the call ids already published (a JetStream KV bucket in
// the daemon). A nil Ledger knows none.
type Ledger interface {
	Seen(ctx context.Context, callID string) (bool, error)
}

// Backfiller derives the calls of a window from Asterisk's records.
type Backfiller struct {
	Rules  mapping.Config
	Store  Store
	Ledger Ledger
	// QueueLog is the queue_log path ("" for none).
	QueueLog string
	Log      *slog.Logger
}

// Report says what one window held.
type Report struct {
	From, To   time.Time
	LinkedIDs  int
	Rows       int
	QueueLines int
	BadRows    int
	// Finished: calls that ended in the window; Published of them are
	// returned, InLedger were published already (live, or by an earlier
	// backfill).
	Finished, Published, InLedger int
	// Open: calls still going at the end of the records (the live engine
	// has them); Outside: calls that ended after the window (the live
	// engine saw their end) or before it.
	Open, Outside int
	Translate     cel.Stats
}

// Window returns the calls with activity in [from, to) that ended inside
// it, each once, marked Backfilled, with the records they rest on in their
// evidence, minus those the ledger has.
func (b *Backfiller) Window(ctx context.Context, from, to time.Time) ([]mapping.CallStatus, Report, error) {
	rep := Report{From: from, To: to}
	ids, err := b.Store.LinkedIDs(ctx, from, to)
	if err != nil {
		return nil, rep, err
	}
	rep.LinkedIDs = len(ids)
	if len(ids) == 0 {
		return nil, rep, nil
	}
	rows, st, err := b.Store.Calls(ctx, ids)
	if err != nil {
		return nil, rep, err
	}
	rep.Rows, rep.BadRows = len(rows), st.Bad
	if st.Bad > 0 && b.Log != nil {
		b.Log.Warn("backfill: CEL rows skipped", "count", st.Bad, "first", st.FirstBad)
	}
	var lines []cel.QueueLine
	if b.QueueLog != "" {
		lines, err = queueLines(b.QueueLog, rows)
		if err != nil {
			return nil, rep, err
		}
		rep.QueueLines = len(lines)
	}
	res := cel.Translate(rows, lines, cel.Options{QueueLog: b.QueueLog != ""})
	rep.Translate = res.Stats
	m := mapping.New(b.Rules)
	var done []mapping.CallStatus
	for _, e := range res.Events {
		done = append(done, m.Apply(e)...)
	}
	rep.Open = m.Active()
	var out []mapping.CallStatus
	for _, cs := range done {
		if cs.End.Before(from) || !cs.End.Before(to) {
			rep.Outside++
			continue
		}
		rep.Finished++
		if b.Ledger != nil {
			seen, err := b.Ledger.Seen(ctx, cs.CallID)
			if err != nil {
				return nil, rep, fmt.Errorf("backfill: ledger: %w", err)
			}
			if seen {
				rep.InLedger++
				continue
			}
		}
		res.Relabel(&cs)
		cs.Backfilled = true
		out = append(out, cs)
	}
	rep.Published = len(out)
	return out, rep, nil
}

// queueLines reads the queue_log lines of the callers in rows, in the time
// the rows span (a second either side: the file has whole seconds).
func queueLines(path string, rows []cel.Record) ([]cel.QueueLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("backfill: queue_log: %w", err)
	}
	defer f.Close()
	uids := make(map[string]bool, len(rows))
	var lo, hi time.Time
	for _, r := range rows {
		uids[r.UniqueID] = true
		if lo.IsZero() || r.EventTime.Before(lo) {
			lo = r.EventTime
		}
		if r.EventTime.After(hi) {
			hi = r.EventTime
		}
	}
	lo, hi = lo.Add(-2*time.Second), hi.Add(2*time.Second)
	var out []cel.QueueLine
	br := bufio.NewReaderSize(f, 64<<10)
	var n int64
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			n++
			if q, perr := cel.ParseQueueLine(line); perr == nil && uids[q.CallID] && !q.Time.Before(lo) && !q.Time.After(hi) {
				q.N = n
				out = append(out, q)
			}
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("backfill: queue_log: %w", err)
		}
	}
}

// DBStore is the Store of a Config: cel.DB, connected on first use and
// again after a failed connect (the database may be down when the daemon
// starts; pgx's pool reconnects by itself once it is up).
type DBStore struct {
	cfg Config
	mu  sync.Mutex
	db  *cel.DB
}

// NewDBStore connects nothing yet.
func NewDBStore(cfg Config) *DBStore { return &DBStore{cfg: cfg} }

func (s *DBStore) get(ctx context.Context) (*cel.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		return s.db, nil
	}
	pw, err := s.cfg.ReadPassword()
	if err != nil {
		return nil, err
	}
	db, err := cel.Open(ctx, s.cfg.DSN, pw, s.cfg.Table, s.cfg.Location())
	if err != nil {
		return nil, err
	}
	s.db = db
	return db, nil
}

// LinkedIDs implements Store.
func (s *DBStore) LinkedIDs(ctx context.Context, from, to time.Time) ([]string, error) {
	db, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	return db.LinkedIDs(ctx, from, to)
}

// Calls implements Store.
func (s *DBStore) Calls(ctx context.Context, ids []string) ([]cel.Record, cel.ReadStats, error) {
	db, err := s.get(ctx)
	if err != nil {
		return nil, cel.ReadStats{}, err
	}
	return db.Calls(ctx, ids)
}

// Close closes the connections, if any.
func (s *DBStore) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil {
		s.db.Close()
		s.db = nil
	}
}
