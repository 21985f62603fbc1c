// Package fakeami is a loopback AMI server for benchmarks: it greets,
// answers Login (any client: this project's Source, goami's stock socket,
// goami2), CoreShowChannels (no channels) and Logoff, and after the first
// login with events on writes a synth.Stream, either as fast as the client
// reads it or paced by the stream's timestamps. It records when it wrote
// each Hangup frame, so a benchmark can measure hangup-to-delivery latency.
package fakeami

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/callstatus/callstatus/bench/synth"
)

// Options shape how the stream is served.
type Options struct {
	User, Secret string
	// Paced writes each frame when its timestamp (relative to the first)
	// has come, in Tick-sized batches; otherwise the stream is written as
	// fast as the client reads it.
	Paced bool
	Tick  time.Duration // default 1 ms
	// Delay waits between the login response and the stream, for clients
	// that read the login response with one fixed-size Read (goami2) and
	// would swallow the first events.
	Delay time.Duration
	// Chunk is the write size when not paced (default 64 KiB).
	Chunk int
	// Close closes the connection after the stream (the client then sees
	// EOF); otherwise it is held until Stop.
	Close bool
	// Gate, when set, holds the stream back until it is closed (a
	// subscriber gets ready first).
	Gate <-chan struct{}
}

// Server serves one stream to the first client that logs in with events.
type Server struct {
	ln  net.Listener
	st  *synth.Stream
	opt Options

	mu        sync.Mutex
	conns     []net.Conn
	served    bool
	started   time.Time
	finished  time.Time
	hangupAt  []time.Time // by index in st.Hangups
	doneCh    chan struct{}
	wg        sync.WaitGroup
	writeErr  error
	stopOnce  sync.Once
	streaming chan struct{}
}

// Start listens on 127.0.0.1:0 and serves st.
func Start(st *synth.Stream, opt Options) (*Server, error) {
	if opt.Tick <= 0 {
		opt.Tick = time.Millisecond
	}
	if opt.Chunk <= 0 {
		opt.Chunk = 64 << 10
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fakeami: listen: %w", err)
	}
	s := &Server{ln: ln, st: st, opt: opt, hangupAt: make([]time.Time, len(st.Hangups)),
		doneCh: make(chan struct{}), streaming: make(chan struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Done is closed once the whole stream has been written.
func (s *Server) Done() <-chan struct{} { return s.doneCh }

// Streaming is closed when the stream starts.
func (s *Server) Streaming() <-chan struct{} { return s.streaming }

// Times returns when the stream started and finished being written, and
// the write time of each Hangup (zero if not written).
func (s *Server) Times() (started, finished time.Time, hangups []time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started, s.finished, s.hangupAt, s.writeErr
}

// Stop closes the listener and every connection and waits.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.serve(c) }()
	}
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	if _, err := io.WriteString(c, "Asterisk Call Manager/9.0.0\r\n"); err != nil {
		return
	}
	br := bufio.NewReader(c)
	for {
		a, err := readAction(br)
		if err != nil {
			return
		}
		id := a["actionid"]
		switch strings.ToLower(a["action"]) {
		case "login":
			if a["username"] != s.opt.User || a["secret"] != s.opt.Secret {
				fmt.Fprintf(c, "Response: Error\r\nActionID: %s\r\nMessage: Authentication failed\r\n\r\n", id)
				return
			}
			fmt.Fprintf(c, "Response: Success\r\nActionID: %s\r\nMessage: Authentication accepted\r\n\r\n", id)
			if strings.EqualFold(a["events"], "off") {
				continue
			}
			s.mu.Lock()
			first := !s.served
			s.served = true
			s.mu.Unlock()
			if !first {
				continue
			}
			if s.opt.Delay > 0 {
				time.Sleep(s.opt.Delay)
			}
			if s.opt.Gate != nil {
				<-s.opt.Gate
			}
			s.write(c)
			if s.opt.Close {
				return
			}
		case "coreshowchannels":
			fmt.Fprintf(c, "Response: Success\r\nActionID: %s\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n", id)
			fmt.Fprintf(c, "Event: CoreShowChannelsComplete\r\nActionID: %s\r\nEventList: Complete\r\nListItems: 0\r\n\r\n", id)
		case "logoff":
			fmt.Fprintf(c, "Response: Goodbye\r\nActionID: %s\r\nMessage: Thanks for all the fish.\r\n\r\n", id)
			return
		default:
			fmt.Fprintf(c, "Response: Error\r\nActionID: %s\r\nMessage: Invalid/unknown command\r\n\r\n", id)
		}
	}
}

// readAction reads one action; keys are lower-cased.
func readAction(br *bufio.Reader) (map[string]string, error) {
	a := map[string]string{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(a) == 0 {
				continue
			}
			return a, nil
		}
		k, v, ok := strings.Cut(line, ":")
		if ok {
			a[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
}

// write sends the stream and stamps the hangups it contains after each
// write returns (the bytes are then in the kernel, on their way).
func (s *Server) write(c net.Conn) {
	st := s.st
	start := time.Now()
	s.mu.Lock()
	s.started = start
	s.mu.Unlock()
	close(s.streaming)
	var err error
	frame, hang := 0, 0
	stamp := func(uptoFrame int, at time.Time) {
		for hang < len(st.Hangups) && st.Hangups[hang].Frame < uptoFrame {
			s.hangupAt[hang] = at
			hang++
		}
	}
	if !s.opt.Paced {
		pos := 0
		for pos < len(st.Bytes) && err == nil {
			end := min(pos+s.opt.Chunk, len(st.Bytes))
			_, err = c.Write(st.Bytes[pos:end])
			pos = end
			for frame < len(st.Frames) && st.Frames[frame].End <= pos {
				frame++
			}
			s.mu.Lock()
			stamp(frame, time.Now())
			s.mu.Unlock()
		}
	} else {
		pos := 0
		t := time.NewTicker(s.opt.Tick)
		for frame < len(st.Frames) && err == nil {
			due := time.Since(start)
			next := frame
			for next < len(st.Frames) && st.Frames[next].At <= due {
				next++
			}
			if next > frame {
				end := st.Frames[next-1].End
				_, err = c.Write(st.Bytes[pos:end])
				pos, frame = end, next
				s.mu.Lock()
				stamp(frame, time.Now())
				s.mu.Unlock()
				continue // catch up before sleeping
			}
			<-t.C
		}
		t.Stop()
	}
	s.mu.Lock()
	s.finished = time.Now()
	s.writeErr = err
	s.mu.Unlock()
	close(s.doneCh)
}
