package adapter

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/schema"
)

// chanSource yields events from a channel; it is connected once.
type chanSource struct {
	evs chan mapping.Event
}

func (c *chanSource) Connect(ctx context.Context) error { return nil }
func (c *chanSource) Next(ctx context.Context) (mapping.Event, error) {
	select {
	case ev := <-c.evs:
		return ev, nil
	case <-ctx.Done():
		return mapping.Event{}, ctx.Err()
	}
}
func (c *chanSource) Close() error { return nil }

// inboundAnswered is one inbound call answered by phone 101.
func inboundAnswered(linked string, t0 time.Time) []mapping.Event {
	a := mapping.Channel{UniqueID: linked, LinkedID: linked, Name: "PJSIP/trunk-" + linked, Context: "from-external", Exten: "5550200", CallerNum: "5550100"}
	b := mapping.Channel{UniqueID: linked + "1", LinkedID: linked, Name: "PJSIP/101-" + linked, Context: "from-internal"}
	up := func(c mapping.Channel) mapping.Channel { c.State = "Up"; return c }
	evs := []mapping.Event{
		{Kind: mapping.ChannelCreated, Chan: a},
		{Kind: mapping.AppRun, Chan: a, Name: "Dial", Value: "PJSIP/101"},
		{Kind: mapping.ChannelCreated, Chan: b},
		{Kind: mapping.DialBegin, Chan: a, Peer: b},
		{Kind: mapping.ChannelState, Chan: up(b)},
		{Kind: mapping.DialEnd, Chan: a, Peer: b, Status: "ANSWER"},
		{Kind: mapping.ChannelState, Chan: up(a)},
		{Kind: mapping.ChannelHangup, Chan: b, Cause: 16},
		{Kind: mapping.ChannelHangup, Chan: a, Cause: 16},
	}
	for i := range evs {
		evs[i].Source = mapping.SourceAMI
		evs[i].Time = t0.Add(time.Duration(i) * 100 * time.Millisecond)
		evs[i].Seq = uint64(i + 1)
	}
	return evs
}

func testDaemonConfig(t *testing.T, port int) Config {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Mapping.PBXID = "lab"
	cfg.NATS.Embedded.Port = port
	cfg.NATS.FlushTimeout = 2 * time.Second
	cfg.AMI.Username, cfg.AMI.Password = "callstatus", "secret" // not dialled: the test swaps the sources
	return cfg
}

func TestDaemonPublishesToEmbeddedNATS(t *testing.T) {
	port := freePort(t)
	cfg := testDaemonConfig(t, port)
	d, err := New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	src := &chanSource{evs: make(chan mapping.Event, 100)}
	d.sources = []namedSource{{"ami", src}}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	var nc *nats.Conn
	eventually(t, 10*time.Second, "embedded server up", func() bool {
		nc, err = nats.Connect(url)
		return err == nil
	})
	defer nc.Close()
	var mu sync.Mutex
	var got, users []*nats.Msg
	if _, err := nc.Subscribe("callstatus.*.*.*", func(m *nats.Msg) { mu.Lock(); got = append(got, m); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe("callstatus.*.user.>", func(m *nats.Msg) { mu.Lock(); users = append(users, m); mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	nc.Flush()

	t0 := time.Now().Add(-time.Minute)
	for i := range 3 {
		for _, ev := range inboundAnswered(fmt.Sprintf("17000000%02d.1", i), t0) {
			src.evs <- ev
		}
	}
	eventually(t, 10*time.Second, "3 statuses", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })

	sch, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for _, m := range got {
		if m.Subject != "callstatus.lab.inbound.answered" {
			t.Errorf("subject %q", m.Subject)
		}
		var cs mapping.CallStatus
		if err := json.Unmarshal(m.Data, &cs); err != nil {
			t.Fatal(err)
		}
		if m.Header.Get("Nats-Msg-Id") != cs.CallID || cs.CallID == "" {
			t.Errorf("Nats-Msg-Id %q, call id %q", m.Header.Get("Nats-Msg-Id"), cs.CallID)
		}
		if err := sch.Validate(m.Data); err != nil {
			t.Errorf("published status breaks the schema: %v\n%s", err, m.Data)
		}
	}
	// Each call rang one user, 101, who answered: one per-user message
	// per call, published before its status.
	if len(users) != 3 {
		t.Errorf("%d per-user messages, want 3", len(users))
	}
	for _, m := range users {
		var u mapping.UserLeg
		if err := json.Unmarshal(m.Data, &u); err != nil {
			t.Fatal(err)
		}
		if m.Subject != "callstatus.lab.user.101.answered" || m.Header.Get("Nats-Msg-Id") != u.CallID+":101" || u.Direction != "inbound" {
			t.Errorf("per-user message on %s (%s): %s", m.Subject, m.Header.Get("Nats-Msg-Id"), m.Data)
		}
	}
	mu.Unlock()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	st := d.Stats()
	if st.Publish.Published.Load() != 3 || st.EventsDropped.Load() != 0 || st.PublishDropped.Load() != 0 {
		t.Errorf("stats: published %d dropped events %d dropped statuses %d", st.Publish.Published.Load(), st.EventsDropped.Load(), st.PublishDropped.Load())
	}
}

// Events queued when shutdown starts are still applied and published.
func TestDaemonShutdownFlushesQueuedWork(t *testing.T) {
	port := freePort(t)
	cfg := testDaemonConfig(t, port)
	d, err := New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	src := &burstSource{}
	t0 := time.Now().Add(-time.Minute)
	for i := range 200 {
		src.evs = append(src.evs, inboundAnswered(fmt.Sprintf("17100000%03d.1", i), t0)...)
	}
	d.sources = []namedSource{{"ami", src}}
	ctx, cancel := context.WithCancel(context.Background())
	src.onDone = cancel // stop as soon as the last event is handed over
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	if st.Publish.Published.Load() != 200 {
		t.Errorf("published %d of 200 (applied %d, emitted %d)", st.Publish.Published.Load(), st.EventsApplied.Load(), st.StatusesEmitted.Load())
	}
}

// burstSource returns all its events as fast as it can, then cancels.
type burstSource struct {
	evs    []mapping.Event
	i      int
	onDone func()
}

func (b *burstSource) Connect(ctx context.Context) error { return nil }
func (b *burstSource) Next(ctx context.Context) (mapping.Event, error) {
	if b.i < len(b.evs) {
		b.i++
		return b.evs[b.i-1], nil
	}
	b.onDone()
	<-ctx.Done()
	return mapping.Event{}, ctx.Err()
}
func (b *burstSource) Close() error { return nil }
