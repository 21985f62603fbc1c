package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/publish"

	"github.com/callstatus/callstatus/internal/testkit"
)

func TestReplay(t *testing.T) {
	out, _, err := runArgs(t, "replay", "--pbx-id", "lab", "testdata/two-inbound.ami")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for i, want := range []string{"lab:1764064800.1", "lab:1764064860.5"} {
		var cs mapping.CallStatus
		if err := json.Unmarshal([]byte(lines[i]), &cs); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if cs.CallID != want || cs.Status != mapping.Answered {
			t.Errorf("line %d: %s %s, want %s answered", i+1, cs.CallID, cs.Status, want)
		}
	}
}

func TestReplayErrorNamesFile(t *testing.T) {
	_, _, err := runArgs(t, "replay", "testdata/good.yaml")
	if err == nil || err.Error() != "replay: testdata/good.yaml: unknown recording type (want *.ami or *.ari.jsonl)" {
		t.Errorf("err = %v", err)
	}
}

func TestTail(t *testing.T) {
	e, err := publish.StartEmbedded(publish.EmbeddedConfig{Host: "127.0.0.1", Port: -1, Listen: true, StoreDir: t.TempDir()}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	url := e.Server.ClientURL()

	cs := mapping.CallStatus{
		Schema: 1, CallID: "lab:1.1", LinkedID: "1.1", PBX: "lab", Category: mapping.Callcenter, Status: mapping.Handled,
		Reason: "agent", Direction: "inbound",
		From: mapping.Party{Number: "5550100"}, To: mapping.Party{Number: "840001"},
		Agent: &mapping.Party{Number: "231", Name: "Alice"}, Queues: []mapping.QueueVisit{{Queue: "support"}},
		Start: time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC), End: time.Date(2025, 11, 25, 10, 1, 0, 0, time.UTC),
		RingSeconds: 3, WaitSeconds: 12, TalkSeconds: 45, Channels: []string{}, Evidence: mapping.Evidence{Rule: "r"},
	}
	body, _ := json.Marshal(cs)

	for name, tc := range map[string]struct {
		args    []string
		subject string
	}{
		"readable": {[]string{"tail", "--server", url}, "callstatus.*.*.*"},
		"json":     {[]string{"tail", "--server", url, "--json", "--subject", "callstatus.lab.>"}, "callstatus.lab.>"},
	} {
		args := tc.args
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var out, errOut testkit.Buffer
			done := make(chan error, 1)
			go func() { done <- run(ctx, args, &out, &errOut) }()

			nc, err := nats.Connect(url)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			// Publish until tail has subscribed and printed.
			deadline := time.Now().Add(5 * time.Second)
			for out.String() == "" && time.Now().Before(deadline) {
				nc.Publish("callstatus.lab.callcenter.handled", body)
				nc.Flush()
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(errOut.String(), "tail: "+tc.subject+" on "+url+" (--server)\n") {
				t.Errorf("tail does not say what it follows: %q", errOut.String())
			}
			first, _, _ := strings.Cut(out.String(), "\n")
			if name == "json" {
				if first != string(body) {
					t.Errorf("got %q", first)
				}
				return
			}
			want := fmt.Sprintf("%s  callcenter/handled           agent          5550100 → 840001 agent=Alice <231> queue=support ring=3s wait=12s talk=45s call=lab:1.1",
				cs.End.Local().Format("2006-01-02 15:04:05"))
			if first != want {
				t.Errorf("got  %q\nwant %q", first, want)
			}
		})
	}
}

// `run` with a config that points at a fake AMI server: the daemon starts,
// and stops cleanly when the context ends.
func TestRunCommandStartsAndStops(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // accepts nothing: the AMI source just keeps retrying
	t.Setenv("CALLSTATUS_AMI_USERNAME", "callstatus")
	t.Setenv("CALLSTATUS_AMI_PASSWORD", "secret")
	t.Setenv("CALLSTATUS_NATS_EMBEDDED_PORT", "-1")
	t.Setenv("CALLSTATUS_HTTP_LISTEN", "127.0.0.1:0") // not the default 9180: a running daemon may hold it
	ctx, cancel := context.WithCancel(context.Background())
	var errOut testkit.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"run", "--ami-address", ln.Addr().String(), "--data-dir", t.TempDir(), "--log-format", "json"}, &errOut, &errOut)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errOut.String(), "callstatusd running") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop")
	}
	log := errOut.String()
	if !strings.Contains(log, `"msg":"callstatusd running"`) || !strings.Contains(log, `"msg":"callstatusd stopped"`) {
		t.Errorf("log:\n%s", log)
	}
	if strings.Contains(log, "secret") {
		t.Errorf("log leaks the AMI password:\n%s", log)
	}
}
