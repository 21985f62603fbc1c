package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// --help prints help and touches no lab (it used to dial AMI); each
// command lists its own flags.
func TestHelp(t *testing.T) {
	tests := map[string]struct {
		args       []string
		has, lacks []string
	}{
		"root":       {args: []string{"--help"}, has: []string{"Usage:", "list", "run", "record", "demo"}},
		"no command": {args: nil, has: []string{"Usage:", "record"}},
		"run":        {args: []string{"run", "--help"}, has: []string{"--ami", "--ari", "--container", "--start"}, lacks: []string{"--out", "--only", "--daemon"}},
		"record":     {args: []string{"record", "--help"}, has: []string{"--ami", "--out", "--only", "--app"}, lacks: []string{"--daemon"}},
		"demo":       {args: []string{"demo", "--help"}, has: []string{"--daemon", "--nats-port", "--only"}, lacks: []string{"--ami", "--start"}},
		"list":       {args: []string{"list", "--help"}, lacks: []string{"--ami", "--out"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := run(context.Background(), tc.args, &out, &errOut); err != nil {
				t.Fatalf("%v (%s)", err, errOut.String())
			}
			for _, s := range tc.has {
				if !strings.Contains(out.String(), s) {
					t.Errorf("help lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tc.lacks {
				if strings.Contains(out.String(), s) {
					t.Errorf("help shows %q:\n%s", s, out.String())
				}
			}
		})
	}
}

func TestRunNeedsAScenario(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"run"}, &out, &out)
	if err == nil || err.Error() != "requires at least 1 arg(s), only received 0" {
		t.Errorf("err = %v", err)
	}
}

func TestList(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"list"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "queue-handled") {
		t.Errorf("list:\n%s", out.String())
	}
}
