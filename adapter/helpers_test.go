package adapter

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/callstatus/callstatus/internal/testkit"
	"github.com/callstatus/callstatus/publish"
)

func testLog(t *testing.T) *slog.Logger { return testkit.Log(t) }

func freePort(t *testing.T) int { return testkit.FreePort(t) }

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

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, d, what, cond)
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
