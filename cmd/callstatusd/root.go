package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

// run is the whole program minus the process: tests call it with their own
// arguments, writers and context.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := &cobra.Command{
		Use:           "callstatusd",
		Short:         "One final status per Asterisk call, published on NATS",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(runCmd(stderr), configCmd(stdout), replayCmd(stdout, stderr), tailCmd(stdout), recentsCmd(stdout), outboxCmd(stdout),
		backfillCmd(stdout, stderr), getCmd(stdout))
	return root.ExecuteContext(ctx)
}
