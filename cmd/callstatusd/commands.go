package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/callstatus/callstatus/adapter"
	"github.com/callstatus/callstatus/mapping"
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
		Short: "Validate the configuration; print ok or the error",
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

func replayCmd(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "replay [--config FILE] FILES...",
		Short: "Feed recorded *.ami / *.ari.jsonl streams to the engine; print one JSON status per line",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			cfg, _, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			// Only the rules matter here: no source or NATS is used.
			if err := cfg.Mapping.Validate(); err != nil {
				return err
			}
			enc := json.NewEncoder(stdout)
			var werr error
			err = adapter.Replay(cfg.Mapping, files, func(cs mapping.CallStatus) {
				if werr == nil {
					werr = enc.Encode(cs)
				}
			})
			return errors.Join(err, werr)
		},
	}
	addConfigFlags(c.Flags())
	return c
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
