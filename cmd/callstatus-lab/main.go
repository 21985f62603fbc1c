// Command callstatus-lab drives the Asterisk lab: it places scenario calls
// and records the AMI and ARI streams they produce into testdata/.
//
//	callstatus-lab list
//	callstatus-lab run NAME...
//	callstatus-lab record --out testdata/recordings [--only NAME[,NAME]]
//	callstatus-lab demo [--only NAME[,NAME]]   (make demo)
//
// It talks to a running lab (make lab-up) by default, or starts its own
// container with --start.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/callstatus/callstatus/lab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "callstatus-lab:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: callstatus-lab list | run NAME... | record --out DIR [--only NAMES] | demo [--only NAMES]")
	}
	cmd, args := args[0], args[1:]
	if cmd == "demo" {
		return runDemo(ctx, args, stdout, stderr)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	ami := fs.String("ami", "127.0.0.1:5038", "AMI host:port")
	ari := fs.String("ari", "http://127.0.0.1:8088", "ARI base URL")
	container := fs.String("container", "callstatus-lab", "lab container name (SIPp runs in it)")
	start := fs.Bool("start", false, "start a fresh lab container (random ports) instead of using a running one")
	out := fs.String("out", "testdata/recordings", "record: output directory")
	only := fs.String("only", "", "record: comma-separated scenario names (default all)")
	app := fs.String("app", "callstatus", "record: ARI application name to record under (the daemon's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	if cmd == "list" {
		for _, s := range lab.Scenarios() {
			for i, c := range s.Calls {
				name := s.Name
				if i > 0 {
					name = ""
				}
				fmt.Fprintf(stdout, "%-30s %-10s %-18s %-12s %s\n", name, c.Category, c.Status, c.Reason, c.Description)
			}
		}
		return nil
	}

	a := lab.Attach(*container, *ami, *ari)
	if *start {
		var err error
		if a, err = lab.Start(ctx, lab.Options{Logger: log}); err != nil {
			return err
		}
		defer a.Stop(context.Background())
	}
	d, err := lab.NewDriver(ctx, lab.DriverConfig{Container: a.Container, AMIAddr: a.AMIAddr, ARIURL: a.ARIURL, Logger: log})
	if err != nil {
		return err
	}
	defer d.Close()

	switch cmd {
	case "run":
		if fs.NArg() == 0 {
			return fmt.Errorf("run: name at least one scenario (callstatus-lab list)")
		}
		for _, name := range fs.Args() {
			t0 := time.Now()
			if err := d.Run(ctx, name); err != nil {
				return err
			}
			log.Info("scenario done", "name", name, "took", time.Since(t0).Round(time.Millisecond))
		}
		return nil
	case "record":
		names := fs.Args()
		if *only != "" {
			names = append(names, strings.Split(*only, ",")...)
		}
		if len(names) == 0 {
			for _, s := range lab.Scenarios() {
				names = append(names, s.Name)
			}
		}
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		version, _ := a.CLI("core show version")
		version = strings.TrimSpace(strings.SplitN(version, " built by", 2)[0])
		cfg := lab.RecordConfig{AMIAddr: a.AMIAddr, AMIUser: lab.DaemonUser, AMIPass: lab.DaemonPass,
			ARIURL: a.ARIURL, ARIUser: lab.DaemonUser, ARIPass: lab.DaemonPass, App: *app,
			Container: a.Container}
		for _, name := range names {
			t0 := time.Now()
			if err := lab.RecordScenario(ctx, d, cfg, *out, name, version); err != nil {
				return err
			}
			log.Info("recorded", "name", name, "took", time.Since(t0).Round(time.Millisecond))
		}
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}
