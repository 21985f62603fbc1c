package adapter

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/publish"
)

// testLog logs to the test output when -v is given.
func testLog(t *testing.T) *slog.Logger {
	t.Helper()
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startNATS runs an embedded JetStream server for one test.
func startNATS(t *testing.T, port int, store string) *publish.Embedded {
	t.Helper()
	e, err := publish.StartEmbedded(publish.EmbeddedConfig{Host: "127.0.0.1", Port: port, Listen: true, StoreDir: store}, "", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func sampleStatus(i int) mapping.CallStatus {
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

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// amiServer is the socket side the loopback fake Asterisks share: it
// accepts until the test ends and serves each connection in a goroutine of
// its own. At cleanup it closes the listener and every connection, then
// waits for its goroutines.
type amiServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func serveAMI(t *testing.T, ln net.Listener, serve func(*amiServer, net.Conn)) *amiServer {
	t.Helper()
	s := &amiServer{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		s.drop()
		s.wg.Wait()
	})
	s.spawn(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, conn)
			s.mu.Unlock()
			s.spawn(func() { serve(s, conn) })
		}
	})
	return s
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func (s *amiServer) addr() string { return s.ln.Addr().String() }

// spawn runs f in a goroutine the cleanup waits for.
func (s *amiServer) spawn(f func()) {
	s.wg.Add(1)
	go func() { defer s.wg.Done(); f() }()
}

// drop closes every open connection, as an Asterisk restart would.
func (s *amiServer) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// The answers every fake Asterisk gives alike.
const amiBanner = "Asterisk Call Manager/9.0.0\r\n"

func replyLogin(w io.Writer, id string, ok bool) {
	if !ok {
		fmt.Fprintf(w, "Response: Error\r\nActionID: %s\r\nMessage: Authentication failed\r\n\r\n", id)
		return
	}
	fmt.Fprintf(w, "Response: Success\r\nActionID: %s\r\nMessage: Authentication accepted\r\n\r\n", id)
}

func replyNoChannels(w io.Writer, id string) {
	fmt.Fprintf(w, "Response: Success\r\nActionID: %s\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n", id)
	fmt.Fprintf(w, "Event: CoreShowChannelsComplete\r\nActionID: %s\r\nEventList: Complete\r\nListItems: 0\r\n\r\n", id)
}
