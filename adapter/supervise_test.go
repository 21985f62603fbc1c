package adapter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

// scriptSource follows a script: each entry is one connection attempt,
// either a connect error or a number of events before Next fails.
type scriptSource struct {
	mu      sync.Mutex
	script  []step
	cur     step
	sent    int
	closes  int
	pending bool
}

type step struct {
	connectErr error
	events     int
	readErr    error
}

func (s *scriptSource) Connect(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.script) == 0 {
		s.cur = step{} // idle: block in Next until ctx ends
		s.pending = true
		return nil
	}
	s.cur, s.script = s.script[0], s.script[1:]
	s.sent = 0
	if s.cur.connectErr != nil {
		return s.cur.connectErr
	}
	return nil
}

func (s *scriptSource) Next(ctx context.Context) (mapping.Event, error) {
	s.mu.Lock()
	if s.pending {
		s.mu.Unlock()
		<-ctx.Done()
		return mapping.Event{}, ctx.Err()
	}
	defer s.mu.Unlock()
	if s.sent < s.cur.events {
		s.sent++
		return mapping.Event{Kind: mapping.ChannelCreated, Chan: mapping.Channel{UniqueID: fmt.Sprint(s.sent)}}, nil
	}
	return mapping.Event{}, s.cur.readErr
}

func (s *scriptSource) Close() error {
	s.mu.Lock()
	s.closes++
	s.mu.Unlock()
	return nil
}

type authErr struct{ account string }

func (e authErr) Error() string {
	return fmt.Sprintf("ami: login as %q: authentication failed", e.account)
}
func (e authErr) Account() string { return e.account }

func TestSupervise(t *testing.T) {
	refused := errors.New("dial tcp 127.0.0.1:5038: connection refused")
	reset := errors.New("read: connection reset by peer")
	tests := map[string]struct {
		script []step
		want   []string // kinds, with events as "ev"
	}{
		"up at once then idle": {
			script: nil,
			want:   []string{"source_up"},
		},
		"connect fails three times, one down then one up": {
			script: []step{{connectErr: refused}, {connectErr: refused}, {connectErr: refused}, {events: 2, readErr: reset}},
			want:   []string{"source_down", "source_up", "ev", "ev", "source_down", "source_up"},
		},
		"drops twice with events in between": {
			script: []step{{events: 1, readErr: reset}, {connectErr: refused}, {events: 1, readErr: reset}},
			want:   []string{"source_up", "ev", "source_down", "source_up", "ev", "source_down", "source_up"},
		},
		"auth error is retried": {
			script: []step{{connectErr: authErr{"callstatus"}}, {connectErr: authErr{"callstatus"}}},
			want:   []string{"source_down", "source_up"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			src := &scriptSource{script: tc.script}
			out := make(chan mapping.Event, 100)
			ctx, cancel := context.WithCancel(context.Background())
			s := supervisor{name: "ami", src: src, out: out, log: orDiscard(testLog(t)), stats: new(Stats),
				retry: Retry{Initial: time.Millisecond, Max: 5 * time.Millisecond, StableAfter: time.Hour}}
			done := make(chan error, 1)
			go func() { done <- s.run(ctx) }()
			var got []string
			for len(got) < len(tc.want) {
				select {
				case ev := <-out:
					k := ev.Kind.String()
					if ev.Kind == mapping.ChannelCreated {
						k = "ev"
					} else if ev.Name != "ami" || ev.Time.IsZero() {
						t.Errorf("%s event: name %q time %v", k, ev.Name, ev.Time)
					}
					got = append(got, k)
				case <-time.After(2 * time.Second):
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
			// Nothing more may come while the source sits idle.
			select {
			case ev := <-out:
				t.Errorf("extra event %s after %v", ev.Kind, got)
			case <-time.After(50 * time.Millisecond):
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Supervise returned %v at shutdown", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// clockSource: connected at the clock's t0, sends one event stamped
// t0+1s, then its read fails once the clock says t0+10s (the drop was
// noticed late); after that it refuses connections.
type clockSource struct {
	clock *time.Time
	t0    time.Time
	n     int
}

func (s *clockSource) Connect(context.Context) error {
	if s.n > 0 {
		return errors.New("connection refused")
	}
	return nil
}

func (s *clockSource) Next(context.Context) (mapping.Event, error) {
	s.n++
	if s.n == 1 {
		return mapping.Event{Kind: mapping.ChannelCreated, Chan: mapping.Channel{UniqueID: "1"}, Time: s.t0.Add(time.Second)}, nil
	}
	*s.clock = s.t0.Add(10 * time.Second)
	return mapping.Event{}, errors.New("read: connection reset by peer")
}

func (s *clockSource) Close() error { return nil }

// A drop is dated by the last moment the source was heard, not by when the
// read failed: a call that started and ended in between is in the gap the
// backfill fills (TestBackfillAfterAMIDrop lost a 3 ms busy call to a
// drop noticed late on a loaded host).
func TestSourceDownIsDatedByTheLastEventHeard(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := t0
	src := &clockSource{clock: &clock, t0: t0}
	out := make(chan mapping.Event, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := supervisor{name: "ami", src: src, out: out, log: orDiscard(testLog(t)), stats: new(Stats), now: func() time.Time { return clock },
		retry: Retry{Initial: time.Hour, Max: time.Hour, StableAfter: time.Hour}}
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	var got []mapping.Event
	for len(got) < 3 {
		select {
		case ev := <-out:
			got = append(got, ev)
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d events, want up, the event, down", len(got))
		}
	}
	cancel()
	<-done
	if got[0].Kind != mapping.SourceUp || !got[0].Time.Equal(t0) {
		t.Errorf("first: %s at %v, want source_up at %v", got[0].Kind, got[0].Time, t0)
	}
	if got[2].Kind != mapping.SourceDown || !got[2].Time.Equal(t0.Add(time.Second)) {
		t.Errorf("third: %s at %v, want source_down at the last event's time %v", got[2].Kind, got[2].Time, t0.Add(time.Second))
	}
}
