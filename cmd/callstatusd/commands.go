package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/callstatus/callstatus/adapter"
	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/replay"
)

func runCmd(stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, file, err := loadValid(cmd.Flags())
			if err != nil {
				return err
			}
			log := newLogger(cfg.Log, stderr)
			if file != "" {
				log.Info("config loaded", "file", file)
			}
			return adapter.Run(cmd.Context(), cfg, log)
		},
	}
	addConfigFlags(c.Flags())
	return c
}

func configCmd(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Check or show the configuration"}
	check := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration; print ok, or every error with its place (exit 1)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, file, err := loadValid(cmd.Flags())
			if err != nil {
				return err
			}
			if file == "" {
				file = "defaults and environment"
			}
			fmt.Fprintf(stdout, "ok (%s)\n", file)
			return nil
		},
	}
	addConfigFlags(check.Flags())
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration as YAML, secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			out, err := showConfig(cfg)
			if err != nil {
				return err
			}
			_, err = stdout.Write(out)
			return err
		},
	}
	addConfigFlags(show.Flags())
	c.AddCommand(check, show)
	return c
}

func replayCmd(stdout, stderr io.Writer) *cobra.Command {
	var strict bool
	c := &cobra.Command{
		Use:   "replay [--config FILE] [--strict] FILES...",
		Short: "Feed recorded *.ami / *.ari.jsonl streams, or CEL exports (*.csv) and queue_log files, to the engine; print one JSON status per line",
		Long: `Feed recorded *.ami / *.ari.jsonl streams to the engine, merged by time, and print
one JSON status per line. The files are decoded as the daemon decodes its sockets:
every bad frame or line is reported on stderr (file and frame or line) and skipped,
unless --strict makes the first one fatal. The engine is swept every
engine.sweep_interval of recording time, as the daemon's ticker does.

Asterisk's own records replay too, apart from AMI/ARI recordings: a CEL export
with a header row (psql: \copy (select * from cel where ...) to 'x.cel.csv' csv
header; eventtime in UTC, cel_pgsql.conf usegmtime = yes) and queue_log files
(queue_log, *.queue_log), translated as the daemon's backfill translates them.
Evidence then names CEL rows and queue_log lines (cel:ID:TYPE, queue_log:N:EVENT).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			// Only the rules and the sweep matter here: no source or NATS is used.
			cfg, _, err := loadChecked(cmd.Flags(), func(c adapter.Config) error {
				if c.Engine.SweepInterval <= 0 {
					return errors.Join(c.Mapping.Validate(), fmt.Errorf("engine.sweep_interval must be positive, got %s", c.Engine.SweepInterval))
				}
				return c.Mapping.Validate()
			})
			if err != nil {
				return err
			}
			enc := json.NewEncoder(stdout)
			var werr error
			opt := replay.Options{
				Rules: cfg.Mapping, SweepEvery: cfg.Engine.SweepInterval, Strict: strict,
				Report: func(p replay.Problem) {
					if !strict { // strict: the error says it
						fmt.Fprintf(stderr, "replay: %v\n", p)
					}
				},
			}
			sum, err := replay.Run(opt, files, func(cs mapping.CallStatus) {
				if werr == nil {
					werr = enc.Encode(cs)
				}
			})
			if n := sum.BadTotal(); n > 0 && err == nil {
				fmt.Fprintf(stderr, "replay: %d bad frames or lines skipped (%s); %d statuses\n", n, badFiles(sum, files), sum.Statuses)
			}
			return errors.Join(err, werr)
		},
	}
	addConfigFlags(c.Flags(), "config", "pbx-id") // the rules only: no source, NATS or HTTP
	c.Flags().BoolVar(&strict, "strict", false, "stop at the first bad frame or line (exit non-zero)")
	return c
}

// badFiles lists "FILE: N" for the files with bad input, in argument order.
func badFiles(sum replay.Summary, files []string) string {
	var parts []string
	for _, f := range files {
		if n := sum.Bad[f]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", f, n))
		}
	}
	return strings.Join(parts, ", ")
}

// newLogger builds the daemon's logger from log.level and log.format
// (validated already).
func newLogger(c adapter.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
