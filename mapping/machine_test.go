package mapping

import (
	"testing"
	"time"
)

// script builds events for hand-written rule tests: times advance 100 ms per
// event and every channel of a script shares the linkedid of the first.
type script struct {
	t      time.Time
	linked string
	seq    uint64
	events []Event
}

func newScript(linked string) *script {
	return &script{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), linked: linked}
}

func (s *script) ch(id, name, ctx, exten string) Channel {
	return Channel{UniqueID: id, LinkedID: s.linked, Name: name, Context: ctx, Exten: exten, CallerNum: "5550100"}
}

func (s *script) add(e Event) *script {
	s.t = s.t.Add(100 * time.Millisecond)
	s.seq++
	e.Time, e.Seq = s.t, s.seq
	if e.Source == SourceNone {
		e.Source = SourceAMI
	}
	s.events = append(s.events, e)
	return s
}

func (s *script) created(c Channel) *script { return s.add(Event{Kind: ChannelCreated, Chan: c}) }
func (s *script) up(c Channel) *script {
	c.State = "Up"
	return s.add(Event{Kind: ChannelState, Chan: c})
}
func (s *script) hangup(c Channel, cause int) *script {
	return s.add(Event{Kind: ChannelHangup, Chan: c, Cause: cause})
}
func (s *script) dial(c, p Channel) *script { return s.add(Event{Kind: DialBegin, Chan: c, Peer: p}) }
func (s *script) dialEnd(c, p Channel, status string) *script {
	return s.add(Event{Kind: DialEnd, Chan: c, Peer: p, Status: status})
}
func (s *script) app(c Channel, app, data string) *script {
	return s.add(Event{Kind: AppRun, Chan: c, Name: app, Value: data})
}
func (s *script) set(c Channel, name, value string) *script {
	return s.add(Event{Kind: VarSet, Chan: c, Name: name, Value: value})
}

// run applies a script through the Audit (the engine's invariants after
// every event) and requires every call to have ended by itself.
func run(t *testing.T, events []Event) []CallStatus {
	t.Helper()
	a := NewAudit(DefaultConfig())
	var out []CallStatus
	for _, e := range events {
		got, err := a.Apply(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got...)
	}
	if n := a.Machine().Active(); n != 0 {
		t.Fatalf("%d calls still active after the script", n)
	}
	if _, err := a.Finish(events[len(events)-1].Time); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRules(t *testing.T) {
	trunk := func(s *script) Channel { return s.ch("1.1", "PJSIP/trunk-00000001", "from-external", "5550200") }
	phone := func(s *script, id, n string) Channel {
		return s.ch(id, "PJSIP/"+n+"-0000000"+id[2:], "from-internal", "")
	}

	tests := map[string]struct {
		build func(s *script)
		want  CallStatus
	}{
		"inbound answered by a phone": {
			build: func(s *script) {
				a, b := trunk(s), phone(s, "1.2", "101")
				s.created(a).app(a, "Dial", "PJSIP/101").created(b).dial(a, b).up(b).dialEnd(a, b, "ANSWER").up(a).hangup(b, 16).hangup(a, 16)
			},
			want: CallStatus{Category: Inbound, Status: Answered, Reason: "ANSWER"},
		},
		"inbound answered by the IVR only is missed": {
			build: func(s *script) {
				a := trunk(s)
				s.created(a).app(a, "Answer", "").up(a).app(a, "Background", "main-menu").hangup(a, 16)
			},
			want: CallStatus{Category: Inbound, Status: Missed, Reason: "IVR"},
		},
		"inbound to voicemail after no answer is missed": {
			build: func(s *script) {
				a, b := trunk(s), phone(s, "1.2", "101")
				s.created(a).created(b).dial(a, b).dialEnd(a, b, "NOANSWER").hangup(b, 19).app(a, "VoiceMail", "101@default").up(a).hangup(a, 16)
			},
			want: CallStatus{Category: Inbound, Status: Missed, Reason: "NOANSWER", Voicemail: &Voicemail{Box: "101@default", Reached: true}},
		},
		"a feature code that dials nobody is the user's session with the PBX": {
			build: func(s *script) {
				a := s.ch("1.1", "PJSIP/245-00000001", "from-internal", "*800")
				s.created(a).app(a, "ConfBridge", "800").up(a).hangup(a, 16)
			},
			want: CallStatus{Category: Outbound, Status: Connected, Reason: "ConfBridge", Internal: true},
		},
		"a feature code the PBX never answered": {
			build: func(s *script) {
				a := s.ch("1.1", "PJSIP/245-00000001", "from-internal", "*555258")
				s.created(a).app(a, "ChanSpy", "PJSIP/258").hangup(a, 16)
			},
			want: CallStatus{Category: Outbound, Status: Canceled, Reason: "ChanSpy", Internal: true},
		},
		"a dial with nothing to do with features is no feature call": {
			build: func(s *script) {
				a := s.ch("1.1", "PJSIP/245-00000001", "from-internal", "5550200")
				s.created(a).app(a, "Dial", "PJSIP/trunk/5550200").hangup(a, 16)
			},
			want: CallStatus{Category: Outbound, Status: Canceled, Reason: "NODIAL"},
		},
		"queue timeout also emits QueueCallerAbandon": {
			build: func(s *script) {
				a := trunk(s)
				s.created(a).app(a, "Queue", "support,,,,4").add(Event{Kind: QueueJoin, Chan: a, Queue: "support", Count: 1}).
					add(Event{Kind: QueueAbandon, Chan: a, Queue: "support"}).add(Event{Kind: QueueLeave, Chan: a, Queue: "support"}).
					set(a, "QUEUESTATUS", "TIMEOUT").app(a, "Hangup", "").hangup(a, 16)
			},
			want: CallStatus{Category: Callcenter, Status: Timeout, Reason: "TIMEOUT", QueueStatus: "TIMEOUT"},
		},
		"queue caller hangs up while waiting": {
			build: func(s *script) {
				a := trunk(s)
				s.created(a).app(a, "Queue", "support").add(Event{Kind: QueueJoin, Chan: a, Queue: "support", Count: 1}).
					add(Event{Kind: QueueAbandon, Chan: a, Queue: "support"}).add(Event{Kind: QueueLeave, Chan: a, Queue: "support"}).hangup(a, 16)
			},
			want: CallStatus{Category: Callcenter, Status: Abandoned, Reason: "ABANDON"},
		},
		"queue join-empty is a timeout with its reason": {
			build: func(s *script) {
				a := trunk(s)
				s.created(a).app(a, "Queue", "empty").set(a, "QUEUESTATUS", "JOINEMPTY").hangup(a, 16)
			},
			want: CallStatus{Category: Callcenter, Status: Timeout, Reason: "JOINEMPTY", QueueStatus: "JOINEMPTY"},
		},
		"queue overflow handled in the second queue": {
			build: func(s *script) {
				a, m := trunk(s), s.ch("1.3", "Local/102@agents-00000001;1", "", "")
				s.created(a).app(a, "Queue", "support").add(Event{Kind: QueueJoin, Chan: a, Queue: "support"}).
					add(Event{Kind: QueueAbandon, Chan: a, Queue: "support"}).add(Event{Kind: QueueLeave, Chan: a, Queue: "support"}).
					set(a, "QUEUESTATUS", "TIMEOUT").app(a, "Queue", "overflow").add(Event{Kind: QueueJoin, Chan: a, Queue: "overflow"}).
					created(m).add(Event{Kind: AgentCalled, Chan: a, Peer: m, Queue: "overflow"}).dial(a, m).dialEnd(a, m, "ANSWER").
					add(Event{Kind: AgentConnect, Chan: a, Peer: m, Queue: "overflow"}).add(Event{Kind: QueueLeave, Chan: a, Queue: "overflow"}).
					hangup(m, 16).hangup(a, 16)
			},
			want: CallStatus{Category: Callcenter, Status: Handled, Reason: "AGENT_CONNECT"},
		},
		"outbound busy is canceled": {
			build: func(s *script) {
				a, b := phone(s, "1.1", "101"), s.ch("1.2", "PJSIP/trunk-00000002", "from-external", "")
				s.created(a).app(a, "Dial", "PJSIP/5550300@trunk").created(b).dial(a, b).dialEnd(a, b, "BUSY").hangup(b, 17).hangup(a, 17)
			},
			want: CallStatus{Category: Outbound, Status: Canceled, Reason: "BUSY", DialStatus: "BUSY"},
		},
		"outbound answered is connected": {
			build: func(s *script) {
				a, b := phone(s, "1.1", "101"), s.ch("1.2", "PJSIP/trunk-00000002", "from-external", "")
				s.created(a).created(b).dial(a, b).up(b).dialEnd(a, b, "ANSWER").up(a).hangup(b, 16).hangup(a, 16)
			},
			want: CallStatus{Category: Outbound, Status: Connected, Reason: "ANSWER", DialStatus: "ANSWER"},
		},
		"outbound with a dropped voicemail": {
			build: func(s *script) {
				a, b := phone(s, "1.1", "101"), s.ch("1.2", "PJSIP/trunk-00000002", "from-external", "")
				s.created(a).created(b).dial(a, b).up(b).dialEnd(a, b, "ANSWER").
					add(Event{Kind: PlaybackStarted, Chan: b, Value: "sound:callstatus/vm-drop"}).hangup(b, 16).hangup(a, 16)
			},
			want: CallStatus{Category: Outbound, Status: VoicemailDropped, Reason: "VMDROP", DialStatus: "ANSWER", VMDropMedia: "sound:callstatus/vm-drop"},
		},
		"internal call is outbound and internal": {
			build: func(s *script) {
				a, b := phone(s, "1.1", "101"), phone(s, "1.2", "102")
				s.created(a).created(b).dial(a, b).dialEnd(a, b, "ANSWER").hangup(b, 16).hangup(a, 16)
			},
			want: CallStatus{Category: Outbound, Status: Connected, Reason: "ANSWER", DialStatus: "ANSWER", Internal: true, Direction: "internal"},
		},
		"direction variable wins over context": {
			build: func(s *script) {
				a := phone(s, "1.1", "101")
				s.created(a).set(a, "CALLSTATUS_DIRECTION", "inbound").hangup(a, 16)
			},
			want: CallStatus{Category: Inbound, Status: Missed, Reason: "NODIAL"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newScript("1.1")
			tc.build(s)
			got := run(t, s.events)
			if len(got) != 1 {
				t.Fatalf("got %d statuses, want 1: %+v", len(got), got)
			}
			g := got[0]
			if g.Category != tc.want.Category || g.Status != tc.want.Status || g.Reason != tc.want.Reason {
				t.Errorf("got %s/%s (%s) by %s, want %s/%s (%s)", g.Category, g.Status, g.Reason, g.Evidence.Rule, tc.want.Category, tc.want.Status, tc.want.Reason)
			}
			if tc.want.DialStatus != "" && g.DialStatus != tc.want.DialStatus {
				t.Errorf("dialstatus %q, want %q", g.DialStatus, tc.want.DialStatus)
			}
			if tc.want.QueueStatus != "" && g.QueueStatus != tc.want.QueueStatus {
				t.Errorf("queuestatus %q, want %q", g.QueueStatus, tc.want.QueueStatus)
			}
			if g.Internal != tc.want.Internal || (g.Voicemail == nil) != (tc.want.Voicemail == nil) || g.VMDropMedia != tc.want.VMDropMedia ||
				(g.Voicemail != nil && (g.Voicemail.Box != tc.want.Voicemail.Box || g.Voicemail.MessageLeft != tc.want.Voicemail.MessageLeft)) {
				t.Errorf("internal/voicemail/vmdrop = %v/%v/%q, want %v/%v/%q", g.Internal, g.Voicemail, g.VMDropMedia, tc.want.Internal, tc.want.Voicemail, tc.want.VMDropMedia)
			}
			if g.CallID != "pbx:1.1" || g.LinkedID != "1.1" {
				t.Errorf("call id %q linkedid %q", g.CallID, g.LinkedID)
			}
		})
	}
}

// Seeing every fact twice, once per source, gives the same single status,
// and only after both sources saw the hangup.
func TestTwoSourcesOneStatus(t *testing.T) {
	s := newScript("1.1")
	a, b := s.ch("1.1", "PJSIP/trunk-00000001", "from-external", "5550200"), s.ch("1.2", "PJSIP/101-00000002", "", "")
	s.created(a).created(b).dial(a, b).dialEnd(a, b, "ANSWER").hangup(b, 16).hangup(a, 16)
	var events []Event
	for _, e := range s.events {
		events = append(events, e)
		dup := e
		dup.Source = SourceARI
		dup.Chan.LinkedID, dup.Peer.LinkedID = "", ""
		events = append(events, dup)
	}
	m := New(DefaultConfig())
	var got []CallStatus
	for i, e := range events {
		out := m.Apply(e)
		if len(out) > 0 && i != len(events)-1 {
			t.Fatalf("status after event %d of %d (%s from %s), before the second source confirmed", i+1, len(events), e.Kind, e.Source)
		}
		got = append(got, out...)
	}
	if len(got) != 1 || got[0].Status != Answered {
		t.Fatalf("got %+v, want one answered", got)
	}
	if n := len(got[0].Legs); n != 1 {
		t.Errorf("%d legs, want 1", n)
	}
}

func TestSweepFinalizesLostCalls(t *testing.T) {
	s := newScript("1.1")
	a := s.ch("1.1", "PJSIP/trunk-00000001", "from-external", "5550200")
	s.created(a)
	m := New(DefaultConfig())
	for _, e := range s.events {
		if out := m.Apply(e); len(out) != 0 {
			t.Fatalf("unexpected status %+v", out)
		}
	}
	if out := m.Sweep(s.t.Add(time.Hour)); len(out) != 0 {
		t.Fatalf("swept a live call after 1h: %+v", out)
	}
	out := m.Sweep(s.t.Add(5 * time.Hour))
	if len(out) != 1 || !out[0].Incomplete || out[0].Inferred != "ttl" {
		t.Fatalf("got %+v, want one incomplete status inferred by ttl", out)
	}
	if m.Active() != 0 {
		t.Fatal("call still active after sweep")
	}
}

func TestMaxCallsEvictsOldest(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxCalls = 2
	m := New(cfg)
	var got []CallStatus
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i, id := range []string{"1.1", "2.1", "3.1"} {
		got = append(got, m.Apply(Event{Kind: ChannelCreated, Source: SourceAMI, Time: base.Add(time.Duration(i) * time.Second), Chan: Channel{UniqueID: id, LinkedID: id, Name: "PJSIP/101-1"}})...)
	}
	if len(got) != 1 || got[0].LinkedID != "1.1" || got[0].Inferred != "evicted" {
		t.Fatalf("got %+v, want the oldest call evicted", got)
	}
	if m.Active() != 2 {
		t.Fatalf("active %d, want 2", m.Active())
	}
}

func TestGlob(t *testing.T) {
	tests := map[string]struct {
		pattern, s string
		want       bool
	}{
		"star spans slashes": {"PJSIP/trunk*", "PJSIP/trunk-0000001", true},
		"inner star":         {"*vm-drop*", "sound:callstatus/vm-drop", true},
		"no match":           {"PJSIP/trunk*", "PJSIP/101-0001", false},
		"question mark":      {"Local/10?@*", "Local/101@phones-1;1", true},
		"empty pattern":      {"", "x", false},
		"star only":          {"*", "", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := glob(tc.pattern, tc.s); got != tc.want {
				t.Errorf("glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
			}
		})
	}
}

// A source that comes back lists the channels still up; calls whose
// channels died during the gap end with what was known, marked incomplete,
// and calls still up go on to their real end.
func TestSnapshotAfterGapEndsDeadCalls(t *testing.T) {
	s := newScript("1.1")
	a, b := s.ch("1.1", "PJSIP/trunk-00000001", "from-external", "5550200"), s.ch("1.2", "PJSIP/101-00000002", "", "")
	s.created(a).created(b).dial(a, b).dialEnd(a, b, "ANSWER")
	s2 := newScript("2.1")
	s2.t = s.t
	c := s2.ch("2.1", "PJSIP/trunk-00000003", "from-external", "5550201")
	s2.created(c)

	m := New(DefaultConfig())
	m.Apply(Event{Kind: SourceUp, Source: SourceAMI})
	for _, e := range append(s.events, s2.events...) {
		if out := m.Apply(e); len(out) != 0 {
			t.Fatalf("early status %+v", out)
		}
	}
	at := s.t.Add(time.Second)
	m.Apply(Event{Kind: SourceDown, Source: SourceAMI, Time: at})
	m.Apply(Event{Kind: SourceUp, Source: SourceAMI, Time: at.Add(time.Second)})
	// Only call 2 is still up.
	m.Apply(Event{Kind: ChannelSnapshot, Source: SourceSnapshot, Time: at.Add(time.Second), Chan: c})
	out := m.Apply(Event{Kind: SnapshotDone, Source: SourceAMI, Time: at.Add(time.Second)})
	if len(out) != 1 || out[0].LinkedID != "1.1" || out[0].Status != Answered || !out[0].Incomplete || out[0].Inferred != "snapshot" {
		t.Fatalf("got %+v, want call 1.1 answered, incomplete, inferred from the snapshot", out)
	}
	if m.Active() != 1 {
		t.Fatalf("active %d, want call 2.1 still tracked", m.Active())
	}
	out = m.Apply(Event{Kind: ChannelHangup, Source: SourceAMI, Time: at.Add(2 * time.Second), Chan: c, Cause: 16})
	if len(out) != 1 || out[0].LinkedID != "2.1" || out[0].Status != Missed {
		t.Fatalf("got %+v, want call 2.1 missed", out)
	}
}

// A snapshot at start-up lets the daemon follow calls it joined late.
func TestSnapshotAtStartMarksJoinedLate(t *testing.T) {
	m := New(DefaultConfig())
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	a := Channel{UniqueID: "1.1", LinkedID: "1.1", Name: "PJSIP/trunk-00000001", Context: "from-external", State: "Up"}
	m.Apply(Event{Kind: SourceUp, Source: SourceAMI, Time: at})
	m.Apply(Event{Kind: ChannelSnapshot, Source: SourceSnapshot, Time: at, Chan: a})
	if out := m.Apply(Event{Kind: SnapshotDone, Source: SourceAMI, Time: at}); len(out) != 0 {
		t.Fatalf("snapshot ended a listed call: %+v", out)
	}
	out := m.Apply(Event{Kind: ChannelHangup, Source: SourceAMI, Time: at.Add(time.Minute), Chan: a, Cause: 16})
	if len(out) != 1 || !out[0].JoinedLate {
		t.Fatalf("got %+v, want one status joined late", out)
	}
}

// A stream cut after the phone went up but before the DialEnd still shows
// who answered: the dialed channel's own state says so.
func TestLegUpWithoutDialEndIsAnswered(t *testing.T) {
	s := newScript("1.1")
	a, b := s.ch("1.1", "PJSIP/trunk-00000001", "from-external", "5550200"), s.ch("1.2", "PJSIP/101-00000002", "", "")
	s.created(a).created(b).dial(a, b).up(b)
	m := New(DefaultConfig())
	for _, e := range s.events {
		m.Apply(e)
	}
	out := m.Sweep(s.t.Add(5 * time.Hour))
	if len(out) != 1 || out[0].Status != Answered || out[0].Answer == nil || out[0].Agent == nil {
		t.Fatalf("got %+v, want one answered status with its agent and answer time", out)
	}
}

// A transfer naming a channel the engine never saw (Asterisk's CEL writes
// "N/A", a source may name a channel whose events it hid) does not invent
// it: the call still ends when its own channels have hung up.
func TestTransferNamingAnUnknownChannelEndsTheCall(t *testing.T) {
	s := newScript("7.1")
	a := s.ch("7.1", "PJSIP/trunk-00000001", "from-external", "5550200")
	b := s.ch("7.2", "PJSIP/101-00000002", "", "")
	s.created(a).created(b).dial(a, b).up(b).dialEnd(a, b, "ANSWER").up(a)
	s.add(Event{Kind: Transfer, Chan: b, Status: "attended", Linked: []string{"7.2", "7.9", "N/A"}})
	s.hangup(b, 16).hangup(a, 16)
	out := run(t, s.events)
	if len(out) != 1 || out[0].Status != Answered || out[0].Transferred != "attended" || len(out[0].UniqueIDs) != 2 {
		t.Fatalf("got %+v, want one answered, attended-transferred status of the two channels", out)
	}
}
