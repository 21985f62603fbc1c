// Package testkit holds what the daemon's packages' tests share: a sample
// final status, a test logger, a free loopback port, a poll for a
// condition. Test code only.
package testkit

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

// SampleStatus is a complete inbound answered status, call i.
func SampleStatus(i int) mapping.CallStatus {
	start := time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	ans := start.Add(5 * time.Second)
	linked := fmt.Sprintf("1764064800.%d", i)
	return mapping.CallStatus{
		Schema:      mapping.SchemaVersion,
		CallID:      "pbx1:" + linked,
		LinkedID:    linked,
		PBX:         "pbx1",
		Category:    mapping.Inbound,
		Status:      mapping.Answered,
		Reason:      "ANSWER",
		Direction:   "inbound",
		DialStatus:  "ANSWER",
		Hangup:      mapping.Hangup{Cause: 16, Text: "Normal Clearing", By: "caller"},
		From:        mapping.Party{Number: "+15551230000", Channel: "PJSIP/trunk-00000001"},
		To:          mapping.Party{Number: "100", Endpoint: "PJSIP/100"},
		Agent:       &mapping.Party{Number: "100", Name: "Alice"},
		Queues:      []mapping.QueueVisit{{Queue: "sales", Join: start, Leave: &ans, WaitSeconds: 5, QueueStatus: "", Agent: "PJSIP/100"}},
		Legs:        []mapping.Leg{{Channel: "PJSIP/100-00000002", Endpoint: "PJSIP/100", Outcome: "answered", DialStatus: "ANSWER", RingStart: &start, Answer: &ans}},
		Start:       start,
		Answer:      &ans,
		End:         ans.Add(30 * time.Second),
		RingSeconds: 5,
		WaitSeconds: 5,
		TalkSeconds: 30,
		Channels:    []string{"PJSIP/trunk-00000001", "PJSIP/100-00000002"},
		Evidence:    mapping.Evidence{Rule: "inbound.answered", Events: []string{"ami#12"}},
	}
}

// Eventually polls cond until it holds or d passes.
func Eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Log is a debug logger with -v, else nil (discard).
// testLog logs to the test output when -v is given.
func Log(t *testing.T) *slog.Logger {
	t.Helper()
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// FreePort is a TCP port free on loopback now.
// freePort returns a loopback port that was free a moment ago.
func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Buffer is a log sink that goroutines write to while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
