package ari

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	ariv6 "github.com/CyCoreSystems/ari/v6"
	"github.com/coder/websocket"

	"github.com/callstatus/callstatus/mapping"
)

var (
	// ErrAuth: Asterisk refused the username or password (HTTP 401).
	ErrAuth = errors.New("authentication failed")
	// ErrReplaced: another websocket registered the same application name,
	// so Asterisk stopped sending us events.
	ErrReplaced = errors.New("application taken over by another websocket")
	// ErrNotConnected: Next was called before Connect or after Close.
	ErrNotConnected = errors.New("not connected")
)

// MaxMessageSize bounds one websocket message (and one line of a replayed
// .ari.jsonl recording). The library default (32 KiB) is too small: a
// bridge event with many channels and channelvars exceeds it, and hitting
// the limit closes the connection.
const MaxMessageSize = 8 << 20

// Stats counts what a Source has read since it was made.
type Stats struct {
	Messages     uint64            // websocket messages read
	Events       uint64            // mapping events returned
	Skipped      uint64            // valid messages that translate to nothing
	UnknownTypes uint64            // messages whose type ari/v6 does not know (part of Skipped)
	DecodeErrors uint64            // messages that are not valid ARI JSON
	ByType       map[string]uint64 // messages per ARI "type" ("" when missing)
}

// Source reads ARI events from one websocket. Connect, then call Next from
// one goroutine until it fails, then Close; Connect again to reconnect.
// Stats, Channels and Close may be called from any goroutine.
type Source struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	// clientErr is a TLS setup failure, returned by every call that needs
	// the network (Validate normally catches it first).
	clientErr error

	mu       sync.Mutex
	conn     *websocket.Conn
	stopPing context.CancelFunc
	stats    Stats

	// A websocket that went silent (Asterisk frozen, a NAT that forgot
	// the flow) is only noticed by a ping: TCP keepalive takes minutes.
	pingEvery, pingTimeout time.Duration

	// Owned by the goroutine calling Next.
	pending []mapping.Event
	seq     uint64
}

// NewSource returns a Source for a validated cfg. A nil log discards.
func NewSource(cfg Config, log *slog.Logger) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{
		cfg:         cfg,
		log:         log.With("source", "ari"),
		stats:       Stats{ByType: map[string]uint64{}},
		pingEvery:   30 * time.Second,
		pingTimeout: 10 * time.Second,
	}
	s.client, s.clientErr = httpClient(cfg)
	return s
}

func httpClient(cfg Config) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tlsCfg := &tls.Config{InsecureSkipVerify: cfg.TLSInsecureSkipVerify}
	if cfg.TLSCAFile != "" {
		pool, err := loadCA(cfg.TLSCAFile)
		if err != nil {
			return nil, err
		}
		tlsCfg.RootCAs = pool
	}
	tr.TLSClientConfig = tlsCfg
	// No Client.Timeout: it would also cut the websocket after the
	// handshake. Callers bound requests with a context instead.
	return &http.Client{Transport: tr}, nil
}

// eventsURL is the websocket address: ws(s)://host:port[/prefix]/ari/events.
func (s *Source) eventsURL() string {
	u, _ := url.Parse(s.cfg.URL) // Validate checked it
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/ari/events"
	q := url.Values{"app": {s.cfg.Application}}
	if s.cfg.SubscribeAll {
		q.Set("subscribeAll", "true")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (s *Source) authHeader() http.Header {
	cred := base64.StdEncoding.EncodeToString([]byte(s.cfg.Username + ":" + s.cfg.Password))
	return http.Header{"Authorization": {"Basic " + cred}}
}

// Connect opens the event websocket, closing any previous one.
func (s *Source) Connect(ctx context.Context) error {
	if s.clientErr != nil {
		return fmt.Errorf("ari: connect: %w", s.clientErr)
	}
	_ = s.Close()
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, s.eventsURL(), &websocket.DialOptions{
		HTTPClient: s.client,
		HTTPHeader: s.authHeader(),
	})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			err = ErrAuth
		}
		return fmt.Errorf("ari: connect as %q at %s: %w", s.cfg.Username, s.cfg.URL, err)
	}
	conn.SetReadLimit(MaxMessageSize)
	pctx, stop := context.WithCancel(context.Background())
	s.mu.Lock()
	s.conn, s.stopPing = conn, stop
	s.mu.Unlock()
	go s.keepalive(pctx, conn)
	s.pending = nil
	s.log.Info("ari connected", "url", s.cfg.URL, "application", s.cfg.Application,
		"subscribe_all", s.cfg.SubscribeAll)
	return nil
}

// Next returns the next mapping event. It skips (and counts) messages that
// translate to nothing or do not decode; it fails only when the connection
// does. Cancelling ctx closes the connection (a coder/websocket rule), so
// ctx should live as long as the connection.
func (s *Source) Next(ctx context.Context) (mapping.Event, error) {
	for {
		if len(s.pending) > 0 {
			ev := s.pending[0]
			s.pending = s.pending[1:]
			return ev, nil
		}
		s.mu.Lock()
		conn := s.conn
		s.mu.Unlock()
		if conn == nil {
			return mapping.Event{}, fmt.Errorf("ari: read: %w", ErrNotConnected)
		}
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return mapping.Event{}, fmt.Errorf("ari: read: %w", err)
		}
		if typ != websocket.MessageText {
			s.count(func(st *Stats) { st.Messages++; st.DecodeErrors++ })
			s.log.Error("ari: binary websocket message ignored", "bytes", len(data))
			continue
		}
		evs, err := s.handle(data)
		if err != nil {
			return mapping.Event{}, err
		}
		s.pending = evs
	}
}

// handle decodes and translates one message (Decode, as replay does),
// counting what happened.
func (s *Source) handle(data []byte) ([]mapping.Event, error) {
	s.seq++
	seq := s.seq
	msg, err := Decode(data, seq)
	s.count(func(st *Stats) { st.Messages++; st.ByType[msg.Type]++ })
	switch {
	case errors.Is(err, ErrUnknownType):
		s.count(func(st *Stats) { st.Skipped++; st.UnknownTypes++ })
		s.log.Debug("ari: unknown event type skipped", "type", msg.Type, "seq", seq)
		return nil, nil
	case err != nil:
		s.count(func(st *Stats) { st.DecodeErrors++ })
		s.log.Error("ari: undecodable event skipped", "type", msg.Type, "seq", seq, "err", err.Error())
		return nil, nil
	}
	switch msg.Type {
	case "ApplicationReplaced":
		return nil, fmt.Errorf("ari: application %q: %w", s.cfg.Application, ErrReplaced)
	case "MissingParams":
		s.log.Error("ari: Asterisk reports missing parameters", "seq", seq, "message", string(data))
	}
	if len(msg.Events) == 0 {
		s.count(func(st *Stats) { st.Skipped++ })
		return nil, nil
	}
	s.count(func(st *Stats) { st.Events += uint64(len(msg.Events)) })
	return msg.Events, nil
}

func (s *Source) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// Stats returns a copy of the counters.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByType = maps.Clone(s.stats.ByType)
	return st
}

// Close closes the websocket, if open. Events not yet returned by Next are
// dropped with it.
func (s *Source) Close() error {
	s.mu.Lock()
	conn, stop := s.conn, s.stopPing
	s.conn, s.stopPing = nil, nil
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	if conn == nil {
		return nil
	}
	// Close waits (up to 5 s) for Asterisk to answer the close handshake;
	// if it does not, drop the TCP connection anyway.
	if err := conn.Close(websocket.StatusNormalClosure, "bye"); err != nil && !isClosed(err) {
		_ = conn.CloseNow()
		return fmt.Errorf("ari: close: %w", err)
	}
	return nil
}

// keepalive pings Asterisk while the connection lives; an unanswered ping
// drops the connection, so Next fails and the supervisor reconnects. The
// pong is read by Next's Read, which the daemon always has pending.
func (s *Source) keepalive(ctx context.Context, conn *websocket.Conn) {
	t := time.NewTicker(s.pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, s.pingTimeout)
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("ari: ping unanswered, dropping the connection", "timeout", s.pingTimeout, "err", err)
				conn.CloseNow()
			}
			return
		}
	}
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || websocket.CloseStatus(err) != -1
}

// Channels lists the channels Asterisk has now (GET /ari/channels) as
// ChannelSnapshot events, so calls in flight at startup are not missed.
func (s *Source) Channels(ctx context.Context) ([]mapping.Event, error) {
	fail := func(err error) ([]mapping.Event, error) {
		return nil, fmt.Errorf("ari: list channels as %q at %s: %w", s.cfg.Username, s.cfg.URL, err)
	}
	if s.clientErr != nil {
		return fail(s.clientErr)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		strings.TrimSuffix(s.cfg.URL, "/")+"/ari/channels", nil)
	if err != nil {
		return fail(err)
	}
	req.SetBasicAuth(s.cfg.Username, s.cfg.Password)
	resp, err := s.client.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return fail(ErrAuth)
	case resp.StatusCode != http.StatusOK:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fail(fmt.Errorf("HTTP %s: %s", resp.Status, strings.TrimSpace(string(body))))
	}
	var list []ariv6.ChannelData
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return fail(fmt.Errorf("decode: %w", err))
	}
	now := time.Now()
	out := make([]mapping.Event, 0, len(list))
	for i := range list {
		if ev, ok := Snapshot(&list[i], now); ok {
			out = append(out, ev)
		}
	}
	return out, nil
}

// sniffType finds `"type":"X"` in a message that is not valid JSON, for logs.
func sniffType(data []byte) string {
	_, rest, ok := strings.Cut(string(data), `"type"`)
	if !ok {
		return ""
	}
	rest = strings.TrimLeft(rest, " \t\r\n")
	rest, ok = strings.CutPrefix(rest, ":")
	if !ok {
		return ""
	}
	rest = strings.TrimLeft(rest, " \t\r\n")
	rest, ok = strings.CutPrefix(rest, `"`)
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, `"`)
	if !ok || len(name) > 64 {
		return ""
	}
	return name
}
