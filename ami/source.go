package ami

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goami "github.com/heltonmarx/goami/ami"

	"github.com/callstatus/callstatus/mapping"
)

var (
	// ErrAuth: Asterisk refused the username or secret.
	ErrAuth = errors.New("authentication failed")
	// ErrNotConnected: Next was called before Connect or after Close.
	ErrNotConnected = errors.New("not connected")
)

// LoginError is returned by Connect when Asterisk refuses the credentials.
// It wraps ErrAuth and names the account (never the secret).
type LoginError struct {
	User    string
	Address string
	Message string // Asterisk's Message header
}

func (e *LoginError) Error() string {
	return fmt.Sprintf("ami: login as %q at %s: %v", e.User, e.Address, ErrAuth)
}

func (e *LoginError) Unwrap() error { return ErrAuth }

// Account names the refused account, for the supervisor's log line.
func (e *LoginError) Account() string { return e.User }

// maxEventNames bounds the per-name counters: event names come from the
// wire, and a garbage stream must not grow a map without end.
const maxEventNames = 512

// Stats counts what a Source has read since it was made.
type Stats struct {
	Frames    uint64 // frames read (events, responses, command output)
	Events    uint64 // mapping events returned by Next
	Malformed uint64 // lines without a colon, plus oversized frames
	Oversized uint64 // frames skipped for exceeding MaxFrameSize (part of Malformed)
	Skipped   uint64 // frames not translated (responses, unused events, the three below)
	Garbage   uint64 // frames with neither an Event nor a Response header (their lines without a colon count in Malformed too)
	NoID      uint64 // events the engine uses that named no channel
	Duplicate uint64 // timestamped events repeated byte for byte
	// ByEvent counts every frame per AMI event name, SkippedByEvent only
	// those that were not translated. Names past maxEventNames are
	// counted under "other".
	ByEvent        map[string]uint64
	SkippedByEvent map[string]uint64
	// LastLag is the receive time minus Asterisk's Timestamp of the last
	// event (0 without timestampevents=yes). It includes any clock skew
	// between the hosts.
	LastLag time.Duration
}

// Source is the AMI event source: one connection, logged in with an event
// mask, read with Reader. The adapter's supervisor calls Connect, Next until
// it fails, Close, and starts over; a Source never retries by itself.
type Source struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex // guards conn against Close from another goroutine
	conn net.Conn
	ev   *EventReader // the decode path replay uses too

	// Next's context watch, kept across calls with the same context so a
	// busy stream does not register a callback per event.
	watched     context.Context
	watchedConn net.Conn
	stopWatch   func() bool

	actionID atomic.Uint64

	// A manager session that went silent (Asterisk frozen, a NAT that
	// forgot the flow) looks like an idle PBX; a Ping action every
	// pingEvery must bring some frame back before the next one is due.
	pingEvery time.Duration
	reads     atomic.Uint64 // frames read, for the keepalive
	stopPing  context.CancelFunc

	statsMu sync.Mutex
	stats   Stats

	lint atomic.Pointer[lint] // this session's site lint (lint.go)
}

// NewSource returns a Source for cfg. A nil log discards. cfg should have
// passed Validate; Connect checks it again.
func NewSource(cfg Config, log *slog.Logger) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{
		cfg:       cfg,
		log:       log.With("source", "ami"),
		pingEvery: 30 * time.Second,
		stats: Stats{
			ByEvent:        make(map[string]uint64),
			SkippedByEvent: make(map[string]uint64),
		},
	}
}

// Connect dials Asterisk, reads the banner and logs in with the configured
// event mask. Wrong credentials give a *LoginError wrapping ErrAuth.
func (s *Source) Connect(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	s.Close()
	sess, err := dialLogin(ctx, s.cfg, s.cfg.events(), s.nextActionID())
	if err != nil {
		return err
	}
	pctx, stop := context.WithCancel(context.Background())
	s.mu.Lock()
	ev := newEventReader(sess.rd, EventOptions{OnFault: s.fault, OnFrame: s.count})
	s.conn, s.ev, s.stopPing = sess.conn, ev, stop
	s.mu.Unlock()
	go s.keepalive(pctx, sess.conn)
	s.log.Info("ami connected", "address", s.cfg.Address, "user", s.cfg.Username,
		"banner", sess.rd.Banner(), "events", s.cfg.events())
	l := newLint(s.cfg)
	s.lint.Store(l)
	s.warn(l.fresh())
	return nil
}

// Warnings says what the PBX hides from this session that the rules need,
// and what to change (lint.go); none before the first session.
func (s *Source) Warnings() []string {
	if l := s.lint.Load(); l != nil {
		return l.warnings()
	}
	return nil
}

func (s *Source) warn(ws []string) {
	for _, w := range ws {
		s.log.Warn("ami site check", "warning", w)
	}
}

// Next returns the next event that translates to a mapping event, read by
// an EventReader: frames that do not translate are counted and skipped, and
// so is bad input (each fault logged). It fails only when the connection
// does (including a disconnect in the middle of a frame, which never yields
// a half event) or when ctx ends. Next does no slow work: Asterisk drops a
// manager session that does not read for writetimeout (100 ms by default),
// so the caller should drain Next in its own goroutine.
func (s *Source) Next(ctx context.Context) (mapping.Event, error) {
	s.mu.Lock()
	conn, er := s.conn, s.ev
	s.mu.Unlock()
	if conn == nil {
		return mapping.Event{}, fmt.Errorf("ami: next event: %w", ErrNotConnected)
	}
	if ctx != s.watched || conn != s.watchedConn {
		if s.stopWatch != nil {
			s.stopWatch()
		}
		s.watched, s.watchedConn = ctx, conn
		s.stopWatch = context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	}
	ev, err := er.Next()
	if err == nil {
		return ev, nil
	}
	if ctx.Err() != nil {
		return mapping.Event{}, fmt.Errorf("ami: read from %s: %w", s.cfg.Address, ctx.Err())
	}
	switch {
	case err == io.EOF:
		err = fmt.Errorf("connection closed by Asterisk: %w", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("connection closed mid-frame: %w", err)
	}
	return mapping.Event{}, fmt.Errorf("ami: read from %s: %w", s.cfg.Address, err)
}

// fault counts and logs one piece of bad input the EventReader skipped.
func (s *Source) fault(f Fault) error {
	s.reads.Add(1)
	s.statsMu.Lock()
	st := &s.stats
	switch f.Kind {
	case FaultOversized:
		st.Malformed++
		st.Oversized++
	case FaultMalformed:
		st.Malformed += uint64(f.Lines)
	case FaultGarbage:
		st.Garbage++
		st.Malformed += uint64(f.Lines)
	case FaultNoID:
		st.NoID++
	case FaultDuplicate:
		st.Duplicate++
	}
	s.statsMu.Unlock()
	if f.Kind != FaultTruncated { // Next reports that one as its error
		s.log.Warn("ami frame skipped", "fault", f.Kind.String(), "frame", f.Frame, "event", f.Event, "err", f.Detail)
	}
	return nil
}

// count updates the stats for one frame (the EventReader's OnFrame) and
// fills a missing event time with the receive time.
func (s *Source) count(f *Frame, ev *mapping.Event, translated bool) {
	s.reads.Add(1)
	if l := s.lint.Load(); l != nil {
		s.warn(l.observe(f))
	}
	var now time.Time
	if translated {
		now = time.Now()
	}
	name := f.Event()
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := &s.stats
	st.Frames++
	if name != "" {
		bump(st.ByEvent, name)
	}
	if !translated {
		st.Skipped++
		if name != "" {
			bump(st.SkippedByEvent, name)
		}
		return
	}
	st.Events++
	if ev.Time.IsZero() {
		// timestampevents=no: the receive time is the best we have.
		ev.Time = now
	} else {
		st.LastLag = now.Sub(ev.Time)
	}
}

// bump counts name in m. The name is a substring of a whole frame: a new
// key is cloned so the map does not pin the frame.
func bump(m map[string]uint64, name string) {
	if n, ok := m[name]; ok {
		m[name] = n + 1
		return
	}
	if len(m) >= maxEventNames {
		m["other"]++
		return
	}
	m[strings.Clone(name)] = 1
}

// Stats returns a copy of the counters.
func (s *Source) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	st := s.stats
	st.ByEvent = make(map[string]uint64, len(s.stats.ByEvent))
	for k, v := range s.stats.ByEvent {
		st.ByEvent[k] = v
	}
	st.SkippedByEvent = make(map[string]uint64, len(s.stats.SkippedByEvent))
	for k, v := range s.stats.SkippedByEvent {
		st.SkippedByEvent[k] = v
	}
	return st
}

// Close closes the connection; a blocked Next returns an error. It is safe
// to call more than once and from another goroutine.
func (s *Source) Close() error {
	s.mu.Lock()
	conn, stop := s.conn, s.stopPing
	s.conn, s.ev, s.stopPing = nil, nil, nil
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	if conn == nil {
		return nil
	}
	return conn.Close()
}

// keepalive sends a Ping action every pingEvery on the event connection
// (its Response comes back as a frame Next skips) and drops the connection
// when not a single frame arrived in a whole interval after a ping, so Next
// fails and the supervisor reconnects.
func (s *Source) keepalive(ctx context.Context, conn net.Conn) {
	t := time.NewTicker(s.pingEvery)
	defer t.Stop()
	last, pinged := s.reads.Load(), false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := s.reads.Load()
		if pinged && n == last {
			s.log.Warn("ami: no answer to a ping, dropping the connection", "address", s.cfg.Address, "waited", s.pingEvery)
			conn.Close()
			return
		}
		last = n
		conn.SetWriteDeadline(time.Now().Add(s.pingEvery))
		if _, err := fmt.Fprintf(conn, "Action: Ping\r\nActionID: %s\r\n\r\n", s.nextActionID()); err != nil {
			return // Next sees the broken connection too
		}
		pinged = true
	}
}

// Snapshot lists the channels that exist now (CoreShowChannels) over a
// separate action connection logged in with events off, so the list never
// interleaves with the event stream. Events have Source SourceSnapshot and
// Time set to when the list was taken.
func (s *Source) Snapshot(ctx context.Context) ([]mapping.Event, error) {
	if err := s.cfg.Validate(); err != nil {
		return nil, err
	}
	sess, err := dialLogin(ctx, s.cfg, "off", s.nextActionID())
	if err != nil {
		return nil, err
	}
	defer sess.Close(ctx)
	stop := context.AfterFunc(ctx, func() { sess.conn.SetDeadline(time.Now()) })
	defer stop()
	sess.conn.SetDeadline(time.Now().Add(s.cfg.dialTimeout()))
	list, err := goami.CoreShowChannels(ctx, sess, s.nextActionID())
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("ami: CoreShowChannels at %s: %w", s.cfg.Address, err)
	}
	now := time.Now()
	out := make([]mapping.Event, 0, len(list))
	for i, resp := range list {
		f := frameFromResponse(resp)
		f.Seq = uint64(i + 1)
		if ev, ok := Translate(&f); ok {
			ev.Source = mapping.SourceSnapshot
			ev.Time = now
			out = append(out, ev)
		}
	}
	// A polite goodbye; the list is already in hand, so errors do not matter.
	goami.Logoff(ctx, sess, s.nextActionID())
	return out, nil
}

func (s *Source) nextActionID() string {
	return "callstatus-" + strconv.FormatUint(s.actionID.Add(1), 10)
}

// frameFromResponse rebuilds a Frame from goami's map. The order of keys is
// lost, which Translate does not need outside UserEvent bodies.
func frameFromResponse(r goami.Response) Frame {
	var f Frame
	if ev, ok := r["Event"]; ok && len(ev) > 0 {
		f.Headers = append(f.Headers, Header{Key: "Event", Value: ev[0]})
	}
	for k, vs := range r {
		if k == "Event" {
			continue
		}
		for _, v := range vs {
			f.Headers = append(f.Headers, Header{Key: k, Value: v})
		}
	}
	return f
}

// session is one logged-in AMI connection. It implements goami's Client
// interface on top of our Reader, so goami sends the actions and parses
// the responses while the bytes stay in one bufio buffer: after login the
// event stream continues in the same Reader with nothing lost. It also
// writes actions verbatim: goami's own Socket passes them to fmt.Fprintf
// as the format, which mangles any '%' in a secret.
type session struct {
	conn net.Conn
	rd   *Reader
	last Frame // the last frame handed to goami, to read Login's Message
}

func (c *session) Connected() bool { return c.conn != nil }

func (c *session) Close(context.Context) error { return c.conn.Close() }

func (c *session) Send(message string) error {
	_, err := io.WriteString(c.conn, message)
	return err
}

// Recv returns the next whole frame, rendered back into CRLF lines with
// the terminating blank line, which is what goami's parser expects.
func (c *session) Recv(context.Context) (string, error) {
	for {
		f, err := c.rd.ReadFrame()
		if err != nil {
			return "", err
		}
		if len(f.Headers) == 0 {
			continue // only malformed lines: goami would read it as an empty response
		}
		c.last = f
		var b strings.Builder
		for _, h := range f.Headers {
			b.WriteString(h.Key)
			b.WriteString(": ")
			b.WriteString(h.Value)
			b.WriteString("\r\n")
		}
		b.WriteString("\r\n")
		return b.String(), nil
	}
}

// dialLogin dials cfg.Address, reads the banner and logs in with the given
// event mask. The whole exchange is bounded by cfg.DialTimeout and ctx.
func dialLogin(ctx context.Context, cfg Config, events, actionID string) (*session, error) {
	timeout := cfg.dialTimeout()
	nd := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	var (
		conn net.Conn
		err  error
	)
	if cfg.TLS != nil {
		conn, err = (&tls.Dialer{NetDialer: nd, Config: cfg.TLS}).DialContext(ctx, "tcp", cfg.Address)
	} else {
		conn, err = nd.DialContext(ctx, "tcp", cfg.Address)
	}
	if err != nil {
		return nil, fmt.Errorf("ami: dial %s: %w", cfg.Address, err)
	}
	fail := func(what string, err error) (*session, error) {
		conn.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("ami: %s at %s: %w", what, cfg.Address, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	conn.SetDeadline(time.Now().Add(timeout))

	sess := &session{conn: conn, rd: NewReader(conn)}
	if _, err := sess.rd.ReadBanner(); err != nil {
		return fail("connect", err)
	}
	if err := goami.Login(ctx, sess, cfg.Username, cfg.Password, events, actionID); err != nil {
		resp, msg := sess.last.Get("Response"), sess.last.Get("Message")
		if strings.EqualFold(resp, "Error") && strings.Contains(strings.ToLower(msg), "authentication") {
			conn.Close()
			return nil, &LoginError{User: cfg.Username, Address: cfg.Address, Message: msg}
		}
		return fail(fmt.Sprintf("login as %q", cfg.Username), err)
	}
	if !stop() && ctx.Err() != nil {
		return fail(fmt.Sprintf("login as %q", cfg.Username), ctx.Err())
	}
	conn.SetDeadline(time.Time{})
	return sess, nil
}
