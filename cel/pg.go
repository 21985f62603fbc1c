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

// Calls reads every row of the given linkedids, and of every channel that
// had one of them: a picked-up or transferred phone's rows under its own
// linkedid belong to the call too (the closure is followed a few rounds).
func (d *DB) Calls(ctx context.Context, linkedids []string) ([]Record, ReadStats, error) {
	var st ReadStats
	seenL := map[string]bool{}
	seenU := map[string]bool{}
	seenRow := map[int64]bool{}
	var out []Record
	next := linkedids
	var uids []string
	for round := 0; round < 4 && (len(next) > 0 || len(uids) > 0); round++ {
		var recs []Record
		var err error
		for _, l := range next {
			seenL[l] = true
		}
		recs, err = d.query(ctx, "linkedid = any($1) or uniqueid = any($2)", next, uids, &st)
		if err != nil {
			return out, st, err
		}
		next, uids = nil, nil
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
			if !seenU[r.UniqueID] {
				seenU[r.UniqueID] = true
				uids = append(uids, r.UniqueID)
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

func (d *DB) query(ctx context.Context, where string, a, b []string, st *ReadStats) ([]Record, error) {
	rows, err := d.pool.Query(ctx, "select "+selectCols+" from "+d.table+" where "+where+" order by eventtime, id", a, b)
	if err != nil {
		return nil, fmt.Errorf("cel: read %s: %w", d.table, err)
	}
	defer rows.Close()
	var out []Record
	vals := make([]*string, len(columns))
	dest := make([]any, len(columns))
	for i := range vals {
		dest[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return out, fmt.Errorf("cel: scan %s: %w", d.table, err)
		}
		rec, err := fromColumns(func(col string) (string, bool) {
			for i, c := range columns {
				if c == col {
					if vals[i] == nil {
						return "", false
					}
					return *vals[i], true
				}
			}
			return "", false
		}, d.loc)
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
