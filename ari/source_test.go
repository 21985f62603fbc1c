package ari

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/callstatus/callstatus/mapping"
)

const (
	testUser = "callstatus"
	testPass = "s3cret-pw"
)

// fakeARI is an Asterisk HTTP server on loopback: it checks basic auth like
// Asterisk does and sends each message of msgs on the event websocket, then
// holds the socket open until hold is closed (or closes it when hold is nil).
type fakeARI struct {
	t        *testing.T
	msgs     [][]byte
	hold     chan struct{}
	channels string // body of GET /ari/channels
	delay    time.Duration

	mu    sync.Mutex
	query string // last websocket query
}

func (f *fakeARI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != testUser || p != testPass {
		// Asterisk's answer to a bad login.
		w.Header().Set("WWW-Authenticate", `Basic realm="Asterisk REST Interface"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"Authentication required"}`))
		return
	}
	switch r.URL.Path {
	case "/ari/channels":
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(f.channels))
	case "/ari/events":
		f.mu.Lock()
		f.query = r.URL.RawQuery
		f.mu.Unlock()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			f.t.Errorf("accept: %v", err)
			return
		}
		defer c.CloseNow()
		// Answer the client's close handshake and pings, as Asterisk does.
		ctx := c.CloseRead(r.Context())
		time.Sleep(f.delay)
		for _, m := range f.msgs {
			if err := c.Write(ctx, websocket.MessageText, m); err != nil {
				return
			}
		}
		if f.hold != nil {
			select {
			case <-f.hold:
			case <-ctx.Done():
			}
		}
		c.Close(websocket.StatusNormalClosure, "done")
	default:
		http.NotFound(w, r)
	}
}

func startARI(t *testing.T, f *fakeARI) Config {
	t.Helper()
	f.t = t
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := DefaultConfig()
	cfg.URL = srv.URL
	cfg.Username = testUser
	cfg.Password = testPass
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// readLines returns the non-empty lines of a JSONL file, one message each.
func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// drain reads events until Next fails.
func drain(t *testing.T, ctx context.Context, s *Source) ([]mapping.Event, error) {
	t.Helper()
	var evs []mapping.Event
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestSourceReplay(t *testing.T) {
	f := &fakeARI{msgs: readLines(t, "testdata/replay.ari.jsonl"), delay: 300 * time.Millisecond}
	cfg := startARI(t, f)
	// Shorter than the server's delay: the dial timeout must bound the
	// handshake only, not the connection.
	cfg.DialTimeout = 100 * time.Millisecond
	var logs bytes.Buffer
	s := NewSource(cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx := t.Context()
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := drain(t, ctx, s)
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("Next error = %v, want a normal close", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after the server closed: %v", err)
	}
	f.mu.Lock()
	query := f.query
	f.mu.Unlock()
	if query != "app=callstatus&subscribeAll=true" {
		t.Errorf("websocket query = %q", query)
	}

	type got struct {
		Kind mapping.Kind
		Seq  uint64
		ID   string
	}
	var have []got
	for _, ev := range evs {
		id := ev.Chan.UniqueID
		if id == "" {
			id = ev.Peer.UniqueID
		}
		have = append(have, got{ev.Kind, ev.Seq, id})
		if ev.Source != mapping.SourceARI || ev.Time.IsZero() {
			t.Errorf("event %v: source %v, time %v", ev.Kind, ev.Source, ev.Time)
		}
	}
	want := []got{
		{mapping.ChannelCreated, 1, "1736935200.1"},
		{mapping.AppRun, 5, "1736935200.1"},
		{mapping.ChannelCreated, 6, "1736935200.2"},
		{mapping.DialBegin, 7, "1736935200.1"},
		{mapping.ChannelState, 9, "1736935200.2"},
		{mapping.DialEnd, 10, "1736935200.1"},
		{mapping.HangupRequest, 13, "1736935200.2"},
		{mapping.ChannelHangup, 14, "1736935200.2"},
		{mapping.ChannelHangup, 15, "1736935200.1"},
	}
	if !reflect.DeepEqual(have, want) {
		t.Errorf("events:\n got %v\nwant %v", have, want)
	}

	wantStats := Stats{
		Messages: 15, Events: 9, Skipped: 3, UnknownTypes: 1, DecodeErrors: 3,
		ByType: map[string]uint64{
			"ChannelCreated": 3, "": 1, "ChannelToneDetected": 1, "ChannelDialplan": 1,
			"Dial": 3, "ChannelStateChange": 1, "ChannelVarset": 1, "ChannelDestroyed": 3,
			"ChannelHangupRequest": 1,
		},
	}
	if st := s.Stats(); !reflect.DeepEqual(st, wantStats) {
		t.Errorf("Stats:\n got %+v\nwant %+v", st, wantStats)
	}
	for _, w := range []string{`type=ChannelCreated seq=2`, `type="" seq=3`, `type=ChannelDestroyed seq=12`} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("logs lack %q:\n%s", w, logs.String())
		}
	}
	if strings.Contains(logs.String(), testPass) {
		t.Errorf("logs contain the password:\n%s", logs.String())
	}
}

func TestSourceConnectErrors(t *testing.T) {
	tests := map[string]struct {
		edit    func(*Config)
		wantErr error
		wantMsg string // with URL in place of the server address
	}{
		"wrong password is ErrAuth": {
			edit:    func(c *Config) { c.Password = "nope" },
			wantErr: ErrAuth,
			wantMsg: `ari: connect as "callstatus" at URL: authentication failed`,
		},
		"unknown user is ErrAuth": {
			edit:    func(c *Config) { c.Username = "mallory" },
			wantErr: ErrAuth,
			wantMsg: `ari: connect as "mallory" at URL: authentication failed`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := startARI(t, &fakeARI{})
			tc.edit(&cfg)
			err := NewSource(cfg, nil).Connect(t.Context())
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Connect error = %v, want %v", err, tc.wantErr)
			}
			if msg := strings.ReplaceAll(err.Error(), cfg.URL, "URL"); msg != tc.wantMsg {
				t.Errorf("Connect error text = %q, want %q", msg, tc.wantMsg)
			}
			if strings.Contains(err.Error(), cfg.Password) {
				t.Errorf("error contains the password: %v", err)
			}
		})
	}
}

func TestSourceNotFound(t *testing.T) {
	cfg := startARI(t, &fakeARI{})
	cfg.URL += "/wrongprefix"
	err := NewSource(cfg, nil).Connect(t.Context())
	if err == nil || errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Connect error = %v, want an HTTP 404", err)
	}
}

func TestSourceApplicationReplaced(t *testing.T) {
	f := &fakeARI{
		msgs: [][]byte{[]byte(`{"type":"ApplicationReplaced","timestamp":"2025-01-15T10:00:00.000+0000","application":"callstatus"}`)},
		hold: make(chan struct{}),
	}
	defer close(f.hold)
	cfg := startARI(t, f)
	s := NewSource(cfg, nil)
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Next(t.Context()); !errors.Is(err, ErrReplaced) {
		t.Fatalf("Next error = %v, want ErrReplaced", err)
	}
}

func TestSourceNotConnected(t *testing.T) {
	s := NewSource(DefaultConfig(), nil)
	if _, err := s.Next(t.Context()); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Next before Connect: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close before Connect: %v", err)
	}
}

func TestSourceCloseUnblocksNext(t *testing.T) {
	f := &fakeARI{hold: make(chan struct{})}
	defer close(f.hold)
	s := NewSource(startARI(t, f), nil)
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background())
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("Next returned no error after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next still blocked 5s after Close")
	}
}

// A bridge event with many channelvars is larger than coder/websocket's
// default 32 KiB read limit.
func TestSourceLargeMessage(t *testing.T) {
	vars := map[string]string{LinkedIDVar: "1.1"}
	for i := range 2000 {
		vars["VAR_"+strings.Repeat("X", 10)+string(rune('a'+i%26))+time.Duration(i).String()] = strings.Repeat("v", 20)
	}
	ch := map[string]any{"id": "1.1", "name": "PJSIP/a-1", "state": "Up", "channelvars": vars}
	msg, _ := json.Marshal(map[string]any{
		"type": "ChannelStateChange", "timestamp": "2025-01-15T10:00:00.000+0000",
		"application": "callstatus", "channel": ch,
	})
	if len(msg) < 64<<10 {
		t.Fatalf("test message only %d bytes", len(msg))
	}
	f := &fakeARI{msgs: [][]byte{msg}, hold: make(chan struct{})}
	defer close(f.hold)
	s := NewSource(startARI(t, f), nil)
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev, err := s.Next(t.Context())
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if ev.Kind != mapping.ChannelState || ev.Chan.LinkedID != "1.1" {
		t.Errorf("got %v linkedid %q", ev.Kind, ev.Chan.LinkedID)
	}
}

func TestSourceChannels(t *testing.T) {
	f := &fakeARI{channels: `[` + alice("Up") + `,` + bob("Ringing") + `]`}
	cfg := startARI(t, f)
	evs, err := NewSource(cfg, nil).Channels(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("got %d snapshots, want 2", len(evs))
	}
	for i, want := range []mapping.Channel{aliceChan("Up"), bobChan("Ringing")} {
		if evs[i].Kind != mapping.ChannelSnapshot || evs[i].Chan != want || evs[i].Time.IsZero() {
			t.Errorf("snapshot %d = %+v, want channel %+v", i, evs[i], want)
		}
	}

	cfg.Password = "nope"
	_, err = NewSource(cfg, nil).Channels(t.Context())
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("Channels with a wrong password: %v", err)
	}
}

func TestSniffType(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"truncated event":   {`{"type":"ChannelCreated","channel":`, "ChannelCreated"},
		"spaces":            {`{ "type" : "Dial", `, "Dial"},
		"no type":           {`not json`, ""},
		"type not a string": {`{"type":3`, ""},
		"unterminated":      {`{"type":"Chan`, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := sniffType([]byte(tc.in)); got != tc.want {
				t.Errorf("sniffType(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// An Asterisk that stops answering (frozen, or a NAT that forgot the flow)
// is noticed by the keepalive ping: Next fails instead of waiting for TCP
// keepalive, so the supervisor reconnects.
func TestSourceDropsSilentConnection(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		<-release // never reads: pings go unanswered
	}))
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.URL, cfg.Username, cfg.Password = srv.URL, testUser, testPass
	src := NewSource(cfg, nil)
	src.pingEvery, src.pingTimeout = 50*time.Millisecond, 100*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := src.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start := time.Now()
	if _, err := src.Next(ctx); err == nil {
		t.Fatal("Next returned an event from a silent server")
	}
	if ctx.Err() != nil {
		t.Fatalf("Next only failed when the test's deadline ran out (%s)", time.Since(start))
	}
}
