package ami

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// lintCall is the frames of one call as a PBX would send them: each
// event with its read class, filtered by drop (event names an eventfilter
// or a missing read class hides) and stamped unless untimed.
func lintCall(t *testing.T, n int, untimed bool, drop []string, extra ...string) []Frame {
	t.Helper()
	events := []struct{ name, class, more string }{
		{"Newchannel", "call", ""},
		{"VarSet", "dialplan", "Variable: CALLSTATUS_DIRECTION\r\nValue: inbound\r\n"},
		{"DialBegin", "call", ""},
		{"DialEnd", "call", "DialStatus: ANSWER\r\n"},
		{"Hangup", "call", "Cause: 16\r\n"},
	}
	for _, e := range extra {
		name, more, _ := strings.Cut(e, "|")
		events = append(events, struct{ name, class, more string }{name, lintEvents[name], more})
	}
	var out []Frame
	for _, e := range events {
		if slices.Contains(drop, e.name) || slices.Contains(drop, e.class) {
			continue
		}
		s := fmt.Sprintf("Event: %s\r\nPrivilege: %s,all\r\n", e.name, e.class)
		if !untimed {
			s += "Timestamp: 1764064800.000001\r\n"
		}
		s += fmt.Sprintf("Channel: PJSIP/trunk-%08d\r\nUniqueid: 1764064800.%d\r\nLinkedid: 1764064800.%d\r\n%s\r\n", n, n, n, e.more)
		out = append(out, parseFrame(t, s))
	}
	return out
}

func TestLint(t *testing.T) {
	tests := map[string]struct {
		events  string // ami.events
		calls   int
		untimed bool
		drop    []string
		extra   []string
		want    []string
	}{
		"everything visible":                 {calls: 5},
		"fewer calls than it takes to judge": {calls: 4, drop: []string{"dialplan", "Hangup"}},
		"event mask leaves classes out": {events: "call,user", calls: 0,
			want: []string{`ami.events is "call,user": the rules also need agent, dialplan: add them, or use on`}},
		"timestampevents off": {calls: 1, untimed: true,
			want: []string{"events carry no Timestamp: set timestampevents = yes in manager.conf [general] (replay and the merge with ARI need Asterisk's event times)"}},
		"no dialplan read class": {calls: 5, drop: []string{"dialplan"},
			want: []string{"no dialplan events in 5 calls: add dialplan to read= of [callstatus] in manager.conf, or drop the eventfilter that hides them (VarSet, Newexten: the direction variable, QUEUESTATUS, voicemail drops)"}},
		"an eventfilter hides Hangup": {calls: 5, drop: []string{"Hangup"},
			want: []string{"Newchannel arrives but Hangup never does (5 calls): an eventfilter on [callstatus] in manager.conf hides it"}},
		"calls run Queue() but no queue event arrives": {calls: 5, extra: []string{"Newexten|Application: Queue\r\nAppData: support\r\n"},
			want: []string{"no agent events in 5 calls: add agent to read= of [callstatus] in manager.conf, or drop the eventfilter that hides them (QueueCallerJoin/Leave/Abandon, Agent*: queue calls)"}},
		"queue events arrive":                            {calls: 5, extra: []string{"Newexten|Application: Queue\r\n", "QueueCallerJoin|Queue: support\r\n", "QueueCallerLeave|Queue: support\r\n"}},
		"no queue used, no queue events: nothing to say": {calls: 5},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Username: "callstatus", Events: tc.events}
			l := newLint(cfg)
			var logged []string
			logged = append(logged, l.fresh()...)
			for n := range tc.calls {
				for _, f := range lintCall(t, n, tc.untimed, tc.drop, tc.extra...) {
					logged = append(logged, l.observe(&f)...)
				}
			}
			if got := l.warnings(); !slices.Equal(got, tc.want) {
				t.Errorf("warnings:\n got %q\nwant %q", got, tc.want)
			}
			// Each warning is handed out (logged) once.
			if !slices.Equal(logged, tc.want) {
				t.Errorf("logged:\n got %q\nwant %q", logged, tc.want)
			}
		})
	}
}

// The Source, over a loopback AMI server, logs a session's warnings once
// and reports them (for /readyz) until the next session starts over.
func TestSourceWarnings(t *testing.T) {
	var stream strings.Builder
	for n := range lintCalls {
		for _, f := range lintCall(t, n, true, []string{"dialplan"}) {
			stream.WriteString(f.Raw() + "\r\n")
		}
	}
	cfg := startAMI(t, &fakeAMI{stream: stream.String()})
	var logs strings.Builder
	s := NewSource(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if w := s.Warnings(); w != nil {
		t.Fatalf("before any session: %q", w)
	}
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for {
		if _, err := s.Next(t.Context()); err != nil {
			break // the fake closes after the stream
		}
	}
	want := []string{
		"events carry no Timestamp: set timestampevents = yes in manager.conf [general] (replay and the merge with ARI need Asterisk's event times)",
		"no dialplan events in 5 calls: add dialplan to read= of [callstatus] in manager.conf, or drop the eventfilter that hides them (VarSet, Newexten: the direction variable, QUEUESTATUS, voicemail drops)",
	}
	if got := s.Warnings(); !slices.Equal(got, want) {
		t.Errorf("warnings:\n got %q\nwant %q", got, want)
	}
	for _, w := range want {
		if n := strings.Count(logs.String(), strconv.Quote(w)); n != 1 {
			t.Errorf("%q logged %d times:\n%s", w, n, logs.String())
		}
	}
	if !strings.Contains(logs.String(), `level=WARN msg="ami site check" source=ami warning=`) {
		t.Errorf("log:\n%s", logs.String())
	}
	// A new session judges afresh.
	s.Close()
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if w := s.Warnings(); len(w) != 0 {
		t.Errorf("a new session starts clean: %q", w)
	}
}

// On what the lab's Asterisk 22 really sent (manager.conf with every
// class and timestampevents), the check says nothing; hiding a class or one
// event of a pair from the same frames is caught.
func TestLintOnRecordings(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "recordings", "*.ami"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings: %v", err)
	}
	var frames []Frame
	for _, file := range files {
		fh, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		rd := NewReader(fh)
		for {
			f, err := rd.ReadFrame()
			if err != nil {
				break // EOF, or a tail cut mid-frame
			}
			frames = append(frames, f)
		}
		fh.Close()
	}
	tests := map[string]struct {
		hide func(f *Frame) bool
		want []string
	}{
		"as recorded": {hide: func(*Frame) bool { return false }},
		"read= without dialplan": {
			hide: func(f *Frame) bool { return strings.HasPrefix(f.Get("Privilege"), "dialplan") },
			want: []string{"no dialplan events in 5 calls: add dialplan to read= of [callstatus] in manager.conf, or drop the eventfilter that hides them (VarSet, Newexten: the direction variable, QUEUESTATUS, voicemail drops)"},
		},
		"read= without agent, while calls run Queue()": {
			hide: func(f *Frame) bool { return strings.HasPrefix(f.Get("Privilege"), "agent") },
			want: []string{"no agent events in 5 calls: add agent to read= of [callstatus] in manager.conf, or drop the eventfilter that hides them (QueueCallerJoin/Leave/Abandon, Agent*: queue calls)"},
		},
		"eventfilter=!Event: DialEnd": {
			hide: func(f *Frame) bool { return f.Event() == "DialEnd" },
			want: []string{"DialBegin arrives but DialEnd never does (5 calls): an eventfilter on [callstatus] in manager.conf hides it"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l := newLint(Config{Username: "callstatus"})
			for i := range frames {
				if !tc.hide(&frames[i]) {
					l.observe(&frames[i])
				}
			}
			if got := l.warnings(); !slices.Equal(got, tc.want) {
				t.Errorf("warnings:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
