package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/callstatus/callstatus/mapping"
)

// TestMain lets a test run this binary as callstatusd itself (see
// runMain), so exit codes are the real ones.
func TestMain(m *testing.M) {
	if os.Getenv("CALLSTATUSD_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runMain runs callstatusd with args in a child process and returns its
// stdout, stderr and exit code.
func runMain(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "CALLSTATUSD_TEST_AS_MAIN=1")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run callstatusd %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// `callstatusd replay` on the capture with every fault (see
// testdata/faults/README.md): each bad frame or line on stderr with file
// and number, one status per real call on stdout, exit 0; --strict exits 1
// at the first bad frame.
func TestReplayFaultyCapture(t *testing.T) {
	ami, ari := "../../testdata/faults/faulty.ami", "../../testdata/faults/faulty.ari.jsonl"
	stdout, stderr, code := runMain(t, "replay", "--pbx-id", "lab", ami, ari)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var cs mapping.CallStatus
		if err := json.Unmarshal([]byte(line), &cs); err != nil {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		got = append(got, string(cs.Category)+"/"+string(cs.Status)+" "+cs.From.Number+" → "+cs.To.Number)
	}
	// The two calls of the recordings the capture was made from (their
	// manifests: outbound-busy, inbound-answered), in the order they ended.
	want := "outbound/canceled 203 → 5554001\ninbound/answered 15550001001 → 800221"
	if strings.Join(got, "\n") != want {
		t.Errorf("statuses:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	for _, s := range []string{
		"replay: " + ami + ": frame 5: oversized: ",
		"replay: " + ami + ": frame 7: no_id: Newchannel: ",
		"replay: " + ami + ": frame 16: duplicate: DialBegin: repeats frame 15 byte for byte",
		"replay: " + ami + ": frame 159: truncated: ",
		"replay: " + ari + ": line 4: undecodable: ",
		"replay: 13 bad frames or lines skipped (" + ami + ": 9, " + ari + ": 4); 2 statuses\n",
	} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}

	stdout, stderr, code = runMain(t, "replay", "--strict", "--pbx-id", "lab", ami, ari)
	if code != 1 || stdout != "" {
		t.Errorf("--strict: exit %d, stdout %q", code, stdout)
	}
	if want := "callstatusd: replay: " + ari + ": line 4: undecodable: "; !strings.HasPrefix(stderr, want) {
		t.Errorf("--strict: stderr %q, want it to start %q", stderr, want)
	}
}
