package cel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB reads CEL rows from the PostgreSQL table cel_pgsql writes
// (asterisk-conf/cel.sql). Every column is read as text and parsed like a
// CSV export, so a site's own column types (integer or text amaflags,
// timestamp with or without zone) read the same; a row that does not parse
// is counted and skipped.
type DB struct {
	pool  *pgxpool.Pool
	table string // quoted, schema-qualified when given so
	loc   *time.Location
}

// Open connects to dsn (a libpq URL or key=value string; its password may
// come from the caller) and checks that table exists and can be read.
// loc is the zone of eventtime when the column has none (nil: UTC, as with
// cel_pgsql.conf usegmtime = yes).
func Open(ctx context.Context, dsn, password, table string, loc *time.Location) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("cel: dsn: %w", err)
	}
	if password != "" {
		cfg.ConnConfig.Password = password
	}
	cfg.MaxConns = 2
	if table == "" {
		table = "cel"
	}
	if loc == nil {
		loc = time.UTC
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cel: connect %s: %w", cfg.ConnConfig.Host, err)
	}
	d := &DB{pool: pool, table: pgx.Identifier(strings.Split(table, ".")).Sanitize(), loc: loc}
	if err := d.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return d, nil
}

// Ping checks the database answers and the table can be read.
func (d *DB) Ping(ctx context.Context) error {
	var n int
	if err := d.pool.QueryRow(ctx, "select 1 from "+d.table+" limit 1").Scan(&n); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("cel: read %s: %w", d.table, err)
	}
	return nil
}

// Close closes the connections.
func (d *DB) Close() { d.pool.Close() }

// LinkedIDs lists the linkedids with a row in [from, to), oldest activity
// first.
func (d *DB) LinkedIDs(ctx context.Context, from, to time.Time) ([]string, error) {
	rows, err := d.pool.Query(ctx, "select linkedid from "+d.table+
		" where eventtime >= $1 and eventtime < $2 group by linkedid order by min(eventtime), linkedid",
		d.local(from), d.local(to))
	if err != nil {
		return nil, fmt.Errorf("cel: linkedids in [%s, %s): %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("cel: linkedids: %w", err)
	}
	return ids, nil
}

// local is t as the table's zone-less eventtime holds it.
func (d *DB) local(t time.Time) time.Time {
	l := t.In(d.loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// Calls reads every row of the channels that had one of the given
// linkedids, so a picked-up or transferred phone's rows under its own
// linkedid come too; linkedids first seen in those rows are followed a few
// rounds more.
func (d *DB) Calls(ctx context.Context, linkedids []string) ([]Record, ReadStats, error) {
	var st ReadStats
	seenL := make(map[string]bool, len(linkedids))
	seenRow := map[int64]bool{}
	var out []Record
	next := linkedids
	for round := 0; round < 4 && len(next) > 0; round++ {
		for _, l := range next {
			seenL[l] = true
		}
		recs, err := d.query(ctx, next, &st)
		if err != nil {
			return out, st, err
		}
		next = nil
		if out == nil {
			out = make([]Record, 0, len(recs))
		}
		for _, r := range recs {
			if seenRow[r.ID] {
				continue
			}
			seenRow[r.ID] = true
			out = append(out, r)
			if !seenL[r.LinkedID] {
				seenL[r.LinkedID] = true
				next = append(next, r.LinkedID)
			}
		}
	}
	return out, st, nil
}

var selectCols = func() string {
	var b strings.Builder
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pgx.Identifier{c}.Sanitize() + "::text")
	}
	return b.String()
}()

func (d *DB) query(ctx context.Context, linkedids []string, st *ReadStats) ([]Record, error) {
	// The channels of these linkedids, then all their rows: both served
	// by the indexes of cel.sql (linkedid, uniqueid).
	rows, err := d.pool.Query(ctx, "select "+selectCols+" from "+d.table+" where uniqueid in (select uniqueid from "+
		d.table+" where linkedid = any($1))", linkedids)
	if err != nil {
		return nil, fmt.Errorf("cel: read %s: %w", d.table, err)
	}
	defer rows.Close()
	var out []Record
	vals := make([]string, len(columns))
	set := make([]bool, len(columns))
	get := func(col string) (string, bool) {
		i := columnIndex[col]
		return vals[i], set[i]
	}
	for rows.Next() {
		raw := rows.RawValues() // text: every column is cast ::text
		for i := range vals {
			if i < len(raw) && raw[i] != nil {
				vals[i], set[i] = string(raw[i]), true
			} else {
				vals[i], set[i] = "", false
			}
		}
		rec, err := fromColumns(get, d.loc)
		if err != nil {
			st.bad(fmt.Sprintf("%s row", d.table), err)
			continue
		}
		out = append(out, rec)
		st.Read++
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("cel: read %s: %w", d.table, err)
	}
	return out, nil
}

var columnIndex = func() map[string]int {
	m := make(map[string]int, len(columns))
	for i, c := range columns {
		m[c] = i
	}
	return m
}()
