package publish

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/callstatus/callstatus/lab/labrules"
	"github.com/callstatus/callstatus/mapping"
	"github.com/callstatus/callstatus/schema"
)

// ringGroup is a call to a ring group of 201, 202 and 203 (the last over
// a Local channel); answeredBy "" is a ring group nobody answered.
func ringGroup(i int, answeredBy string) mapping.CallStatus {
	cs := sampleStatus(i)
	start := cs.Start.Add(time.Second)
	ans := start.Add(4 * time.Second)
	cs.Queues, cs.Agent = nil, nil
	cs.Legs = nil
	for _, ch := range []string{"PJSIP/201-0000000a", "PJSIP/202-0000000b", "Local/203@phones-0000000c;1"} {
		l := mapping.Leg{Channel: ch, RingStart: &start, Outcome: "noanswer", DialStatus: "NOANSWER"}
		switch {
		case answeredBy == "":
		case strings.Contains(ch, "/"+answeredBy):
			l.Outcome, l.DialStatus, l.Answer = "answered", "ANSWER", &ans
		default:
			l.Outcome, l.DialStatus = "answered_elsewhere", "CANCEL"
		}
		cs.Legs = append(cs.Legs, l)
	}
	if answeredBy == "" {
		cs.Status, cs.Answer, cs.TalkSeconds = mapping.Missed, nil, 0
	}
	return cs
}

// streamContent is every message the stream holds, in order.
func streamContent(t *testing.T, nc *nats.Conn) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "CALLSTATUS")
	if err != nil {
		t.Fatal(err)
	}
	n := st.CachedInfo().State.Msgs
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for uint64(len(out)) < n {
		m, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			t.Fatalf("message %d of %d: %v", len(out)+1, n, err)
		}
		out = append(out, m)
	}
	return out
}

// One message per user leg, on its own subject with <call_id>:<extension>
// as msg id, in the status stream before the status; publishing the call
// again (a retry) adds nothing to the stream.
func TestUserLegsPublishedBeforeStatus(t *testing.T) {
	type leg struct{ subject, outcome string }
	tests := map[string]struct {
		cs   mapping.CallStatus
		want map[string]leg // by extension
	}{
		"ring group, 202 answered": {ringGroup(1, "202"), map[string]leg{
			"201": {"callstatus.pbx1.user.201.answered_elsewhere", "answered_elsewhere"},
			"202": {"callstatus.pbx1.user.202.answered", "answered"},
			"203": {"callstatus.pbx1.user.203.answered_elsewhere", "answered_elsewhere"},
		}},
		"ring group nobody answered": {ringGroup(2, ""), map[string]leg{
			"201": {"callstatus.pbx1.user.201.missed", "missed"},
			"202": {"callstatus.pbx1.user.202.missed", "missed"},
			"203": {"callstatus.pbx1.user.203.missed", "missed"},
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := startNATS(t, -1, t.TempDir())
			cfg := testNATSConfig(true)
			nc, err := e.Connect(cfg, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			p, err := New(nc, cfg, "default", nil, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			p.UserLegs = mapping.Config{}.UserLegs
			for range 2 {
				if err := p.Publish(context.Background(), tc.cs); err != nil {
					t.Fatal(err)
				}
			}
			sch, err := schema.LoadUserLeg()
			if err != nil {
				t.Fatal(err)
			}
			msgs := streamContent(t, nc)
			if len(msgs) != len(tc.want)+1 {
				t.Fatalf("stream holds %d messages, want %d user legs and the status", len(msgs), len(tc.want))
			}
			last := msgs[len(msgs)-1]
			if last.Subject() != p.Subject(tc.cs) || last.Headers().Get(jetstream.MsgIDHeader) != tc.cs.CallID {
				t.Errorf("last in the stream: %s %v, want the status", last.Subject(), last.Headers())
			}
			seen := map[string]bool{}
			for _, m := range msgs[:len(msgs)-1] {
				var u mapping.UserLeg
				if err := json.Unmarshal(m.Data(), &u); err != nil {
					t.Fatalf("%s: %v", m.Subject(), err)
				}
				if err := sch.Validate(m.Data()); err != nil {
					t.Errorf("%s breaks schema/userleg.schema.json: %v", m.Subject(), err)
				}
				w, ok := tc.want[u.Extension]
				if !ok || seen[u.Extension] {
					t.Errorf("unexpected user leg %s on %s", u.Extension, m.Subject())
					continue
				}
				seen[u.Extension] = true
				if m.Subject() != w.subject || string(u.Outcome) != w.outcome {
					t.Errorf("user %s: %s %s, want %s", u.Extension, m.Subject(), u.Outcome, w.subject)
				}
				if id := m.Headers().Get(jetstream.MsgIDHeader); id != tc.cs.CallID+":"+u.Extension {
					t.Errorf("user %s: Nats-Msg-Id %q", u.Extension, id)
				}
				if u.CallID != tc.cs.CallID || u.Direction != tc.cs.Direction || u.From.Number != tc.cs.From.Number || u.RingSeconds <= 0 {
					t.Errorf("user %s: body %s", u.Extension, m.Data())
				}
			}
		})
	}
}

// A real ring group recording's golden status through the lab's rules:
// the member who answered and the one it rang beside.
func TestUserLegsFromGolden(t *testing.T) {
	f, err := os.Open("../testdata/recordings/ringgroup-answered.golden.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cs mapping.CallStatus
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() {
		t.Fatal("empty golden")
	}
	if err := json.Unmarshal(sc.Bytes(), &cs); err != nil {
		t.Fatal(err)
	}
	e := startNATS(t, -1, t.TempDir())
	cfg := testNATSConfig(false)
	nc, err := e.Connect(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	all, err := nc.SubscribeSync("callstatus.>")
	if err != nil {
		t.Fatal(err)
	}
	statuses, err := nc.SubscribeSync(StatusSubjects(cfg.SubjectPrefix))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(nc, cfg, "default", nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	p.UserLegs = labrules.Rules().UserLegs
	if err := p.Publish(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 3 {
		m, err := all.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Subject+" "+m.Header.Get("Nats-Msg-Id"))
	}
	id := cs.CallID
	want := []string{
		"callstatus.lab.user.211.answered " + id + ":211",
		"callstatus.lab.user.311.answered_elsewhere " + id + ":311",
		"callstatus.lab.inbound.answered " + id,
	}
	slices.Sort(got[:2])
	slices.Sort(want[:2])
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if m, err := statuses.NextMsg(time.Second); err != nil || m.Subject != "callstatus.lab.inbound.answered" {
		t.Errorf("status subscriber: %v %v", m, err)
	}
	if m, err := statuses.NextMsg(100 * time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Errorf("status subscriber got a user leg: %v", m.Subject)
	}
}

// nats.user_legs false publishes the status alone.
func TestUserLegsOff(t *testing.T) {
	e := startNATS(t, -1, t.TempDir())
	cfg := testNATSConfig(true)
	cfg.UserLegs = false
	nc, err := e.Connect(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p, err := New(nc, cfg, "default", nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	p.UserLegs = mapping.Config{}.UserLegs
	if err := p.Publish(context.Background(), ringGroup(1, "201")); err != nil {
		t.Fatal(err)
	}
	if msgs := streamContent(t, nc); len(msgs) != 1 || msgs[0].Subject() != "callstatus.pbx1.inbound.answered" {
		t.Errorf("stream holds %d messages", len(msgs))
	}
}

// A server that refuses the user subjects refuses the attempt for good,
// and the error names the way out; the status is not published without
// its user legs.
func TestUserLegsRefused(t *testing.T) {
	for name, jet := range map[string]bool{"jetstream": true, "core nats": false} {
		t.Run(name, func(t *testing.T) {
			srv := startLimitedNATS(t)
			cfg := testNATSConfig(jet)
			cfg.URLs = []string{srv.ClientURL()}
			cfg.User, cfg.Password = "cs", "pw"
			nc, err := Connect(cfg, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			eventually(t, 5*time.Second, "connected", nc.IsConnected)
			sub, err := nc.SubscribeSync("callstatus.>")
			if err != nil {
				t.Fatal(err)
			}
			p, err := New(nc, cfg, "pbx1", nil, testLog(t))
			if err != nil {
				t.Fatal(err)
			}
			p.UserLegs = mapping.Config{}.UserLegs
			err = p.Publish(context.Background(), ringGroup(1, "201"))
			if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "nats.user_legs: false") {
				t.Fatalf("err = %v", err)
			}
			if m, err := sub.NextMsg(100 * time.Millisecond); err == nil {
				t.Errorf("published %s", m.Subject)
			}
		})
	}
}
