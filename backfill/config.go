// Package backfill reports the calls the daemon did not see live: for a gap
// (the daemon stopped, a source down), it reads Asterisk's own records of
// the calls active in it (CEL from PostgreSQL, queue_log), runs them through
// a mapping.Machine of its own with the daemon's rules, and hands over every
// call that ended in the gap, marked backfilled, unless the ledger of
// published calls already has it.
package backfill

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/callstatus/callstatus/secret"
)

// Config is the backfill section of the daemon's configuration.
type Config struct {
	// Enabled switches the backfill on (off by default: it needs
	// cel_pgsql and a database the daemon can read).
	Enabled bool `mapstructure:"enabled" yaml:"enabled"`
	// DSN is the PostgreSQL connection string (libpq URL or key=value),
	// without the password when PasswordFile is used.
	DSN          string `mapstructure:"dsn" yaml:"dsn"`
	Password     string `mapstructure:"password" yaml:"password"`
	PasswordFile string `mapstructure:"password_file" yaml:"password_file"`
	// Table is the CEL table cel_pgsql writes (schema.table allowed).
	Table string `mapstructure:"table" yaml:"table"`
	// QueueLog is the path of Asterisk's queue_log file; empty: none (then
	// queue outcomes are not known and queue calls are not backfilled
	// right: leave it empty only without queues).
	QueueLog string `mapstructure:"queue_log" yaml:"queue_log"`
	// Horizon bounds the first start's gap (no state yet in data_dir),
	// and a gap longer than it is reported (never cut short).
	Horizon time.Duration `mapstructure:"horizon" yaml:"horizon"`
	// Settle is how long after a gap ends the backfill waits before
	// reading, so the rows of calls that ended just then are written.
	Settle time.Duration `mapstructure:"settle" yaml:"settle"`
	// Timezone of eventtime when the column has none: UTC with
	// cel_pgsql.conf usegmtime = yes (asterisk-conf), else the PBX's zone.
	Timezone string `mapstructure:"timezone" yaml:"timezone"`
	// RetryMax caps the backoff between attempts when the database is down
	// or slow; attempts go on until the daemon stops.
	RetryMax time.Duration `mapstructure:"retry_max" yaml:"retry_max"`
	// QueryTimeout bounds one window's reads.
	QueryTimeout time.Duration `mapstructure:"query_timeout" yaml:"query_timeout"`
	// Shadow: ShadowDelay after each live status, derive the same call
	// from CEL and count agreement per rule
	// (callstatus_shadow_total{rule,result}); log each disagreement with
	// both evidences. Never corrects a status. Off by default.
	Shadow      bool          `mapstructure:"shadow" yaml:"shadow"`
	ShadowDelay time.Duration `mapstructure:"shadow_delay" yaml:"shadow_delay"`
}

// DefaultConfig: off; table cel, a 24 h horizon, 5 s settle, UTC.
func DefaultConfig() Config {
	return Config{Table: "cel", Horizon: 24 * time.Hour, Settle: 5 * time.Second, Timezone: "UTC",
		RetryMax: time.Minute, QueryTimeout: 30 * time.Second, ShadowDelay: 10 * time.Second}
}

// Validate names the key that cannot work.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if strings.TrimSpace(c.DSN) == "" {
		errs = append(errs, errors.New("backfill.dsn must be set when backfill.enabled"))
	}
	if c.Password != "" && c.PasswordFile != "" {
		errs = append(errs, errors.New("backfill.password and backfill.password_file are exclusive"))
	}
	if strings.TrimSpace(c.Table) == "" {
		errs = append(errs, errors.New("backfill.table must not be empty"))
	}
	if c.Horizon < time.Minute {
		errs = append(errs, fmt.Errorf("backfill.horizon must be at least 1m, got %s", c.Horizon))
	}
	if c.Settle < 0 {
		errs = append(errs, fmt.Errorf("backfill.settle must not be negative, got %s", c.Settle))
	}
	if c.RetryMax < time.Second {
		errs = append(errs, fmt.Errorf("backfill.retry_max must be at least 1s, got %s", c.RetryMax))
	}
	if c.QueryTimeout < time.Second {
		errs = append(errs, fmt.Errorf("backfill.query_timeout must be at least 1s, got %s", c.QueryTimeout))
	}
	if c.Shadow && c.ShadowDelay < time.Second {
		errs = append(errs, fmt.Errorf("backfill.shadow_delay must be at least 1s (CEL rows are written as the call goes), got %s", c.ShadowDelay))
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		errs = append(errs, fmt.Errorf("backfill.timezone %q: %w", c.Timezone, err))
	}
	return errors.Join(errs...)
}

// Location is the zone of eventtime.
func (c Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil || c.Timezone == "" {
		return time.UTC
	}
	return loc
}

// ReadPassword returns the database password (inline or from its file).
func (c Config) ReadPassword() (string, error) {
	return secret.Read(c.Password, c.PasswordFile, "backfill.password")
}
