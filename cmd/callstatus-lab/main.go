// Command callstatus-lab drives the Asterisk lab: it places scenario calls
// and records the AMI and ARI streams they produce into testdata/.
//
//	callstatus-lab list
//	callstatus-lab run NAME...
//	callstatus-lab record --out testdata/recordings [--only NAME[,NAME]]
//	callstatus-lab manifest --out testdata/recordings [--only NAME[,NAME]]
//	callstatus-lab demo [--only NAME[,NAME]]   (make demo)
//
// It talks to a running lab (make lab-up) by default, or starts its own
// container with --start.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

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

// run is the whole program minus the process, as in callstatusd: tests
// call it with their own arguments and writers.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := &cobra.Command{
		Use:   "callstatus-lab",
		Short: "Drive the Asterisk lab: place scenario calls, record what the daemon sees, run the demo",
		Long: `Drive the Asterisk lab: place scenario calls, record what the daemon's accounts see,
run the demo. run and record talk to a running lab (make lab-up) unless --start
starts a fresh container.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(listCmd(stdout), runScenariosCmd(stderr), recordCmd(stderr), manifestCmd(stdout), demoCmd(stdout))
	return root.ExecuteContext(ctx)
}

func listCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the lab scenarios with their expected outcome",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
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
		},
	}
}

// labFlags say which lab run and record talk to.
type labFlags struct {
	ami, ari, container string
	start               bool
}

func (f *labFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.ami, "ami", "127.0.0.1:5038", "AMI host:port")
	fs.StringVar(&f.ari, "ari", "http://127.0.0.1:8088", "ARI base URL")
	fs.StringVar(&f.container, "container", "callstatus-lab", "lab container name (SIPp runs in it)")
	fs.BoolVar(&f.start, "start", false, "start a fresh lab container (random ports) instead of using a running one")
}

// attach reaches the lab (or starts one) and opens the driver; done
// closes both.
func (f *labFlags) attach(ctx context.Context, log *slog.Logger) (a *lab.Asterisk, d *lab.Driver, done func(), err error) {
	a = lab.Attach(f.container, f.ami, f.ari)
	stop := func() {}
	if f.start {
		if a, err = lab.Start(ctx, lab.Options{Logger: log}); err != nil {
			return nil, nil, nil, err
		}
		stop = func() { a.Stop(context.Background()) }
	}
	d, err = lab.NewDriver(ctx, lab.DriverConfig{Container: a.Container, AMIAddr: a.AMIAddr, ARIURL: a.ARIURL, Logger: log})
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return a, d, func() { d.Close(); stop() }, nil
}

func runScenariosCmd(stderr io.Writer) *cobra.Command {
	var lf labFlags
	c := &cobra.Command{
		Use:   "run NAME...",
		Short: "Place the calls of the named scenarios on the lab (callstatus-lab list)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, names []string) error {
			log := slog.New(slog.NewTextHandler(stderr, nil))
			_, d, done, err := lf.attach(cmd.Context(), log)
			if err != nil {
				return err
			}
			defer done()
			for _, name := range names {
				t0 := time.Now()
				if err := d.Run(cmd.Context(), name); err != nil {
					return err
				}
				log.Info("scenario done", "name", name, "took", time.Since(t0).Round(time.Millisecond))
			}
			return nil
		},
	}
	lf.add(c)
	return c
}

func recordCmd(stderr io.Writer) *cobra.Command {
	var lf labFlags
	var out, only, app string
	c := &cobra.Command{
		Use:   "record [NAME...] [--out DIR] [--only NAME,NAME]",
		Short: "Record what the daemon's accounts see for each scenario (default: all)",
		RunE: func(cmd *cobra.Command, names []string) error {
			ctx := cmd.Context()
			if only != "" {
				names = append(names, strings.Split(only, ",")...)
			}
			if len(names) == 0 {
				for _, s := range lab.Scenarios() {
					names = append(names, s.Name)
				}
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(stderr, nil))
			a, d, done, err := lf.attach(ctx, log)
			if err != nil {
				return err
			}
			defer done()
			version, _ := a.CLI("core show version")
			version = strings.TrimSpace(strings.SplitN(version, " built by", 2)[0])
			cfg := lab.RecordConfig{AMIAddr: a.AMIAddr, AMIUser: lab.DaemonUser, AMIPass: lab.DaemonPass,
				ARIURL: a.ARIURL, ARIUser: lab.DaemonUser, ARIPass: lab.DaemonPass, App: app,
				Container: a.Container}
			for _, name := range names {
				t0 := time.Now()
				if err := lab.RecordScenario(ctx, d, cfg, out, name, version); err != nil {
					return err
				}
				log.Info("recorded", "name", name, "took", time.Since(t0).Round(time.Millisecond))
			}
			return nil
		},
	}
	lf.add(c)
	c.Flags().StringVar(&out, "out", "testdata/recordings", "output directory")
	c.Flags().StringVar(&only, "only", "", "comma-separated scenario names (default all)")
	c.Flags().StringVar(&app, "app", "callstatus", "ARI application name to record under (the daemon's)")
	return c
}

func manifestCmd(stdout io.Writer) *cobra.Command {
	var out, only string
	c := &cobra.Command{
		Use:   "manifest [NAME...] [--out DIR] [--only NAME,NAME]",
		Short: "Rewrite the answer keys of existing recordings from the scenario catalogue (default: all)",
		RunE: func(cmd *cobra.Command, names []string) error {
			if only != "" {
				names = append(names, strings.Split(only, ",")...)
			}
			all := len(names) == 0
			if all {
				for _, s := range lab.Scenarios() {
					names = append(names, s.Name)
				}
			}
			for _, name := range names {
				changed, err := lab.RefreshManifest(out, name)
				if all && errors.Is(err, fs.ErrNotExist) {
					fmt.Fprintln(stdout, "not recorded yet:", name)
					continue
				}
				if err != nil {
					return err
				}
				if changed {
					fmt.Fprintln(stdout, "updated", name)
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "testdata/recordings", "recordings directory")
	c.Flags().StringVar(&only, "only", "", "comma-separated scenario names (default all)")
	return c
}
