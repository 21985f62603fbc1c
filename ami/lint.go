package ami

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// lintCalls is how many calls (distinct Linkedid values, in any event)
// a session sees before the lint judges what never arrived.
const lintCalls = 5

// lintEvents are the events the rules read, by the manager.conf read
// class that carries them.
var lintEvents = map[string]string{
	"Newchannel": "call", "Hangup": "call", "Newstate": "call", "HangupRequest": "call", "SoftHangupRequest": "call",
	"DialBegin": "call", "DialEnd": "call", "BridgeEnter": "call", "BridgeLeave": "call",
	"BlindTransfer": "call", "AttendedTransfer": "call",
	"QueueCallerJoin": "agent", "QueueCallerLeave": "agent", "QueueCallerAbandon": "agent", "AgentCalled": "agent",
	"AgentConnect": "agent", "AgentComplete": "agent", "AgentRingNoAnswer": "agent",
	"VarSet": "dialplan", "Newexten": "dialplan",
	"UserEvent": "user",
}

// lintClasses are the read classes the rules need, with what each brings.
var lintClasses = []struct{ class, brings string }{
	{"call", "Newchannel, Hangup, Dial*, Bridge*: every call"},
	{"agent", "QueueCallerJoin/Leave/Abandon, Agent*: queue calls"},
	{"dialplan", "VarSet, Newexten: the direction variable, QUEUESTATUS, voicemail drops"},
	{"user", "UserEvent: mapping.vmdrop_user_event"},
}

// lintPairs always come together on a call: one without the other means
// an eventfilter lets one through and hides the other.
var lintPairs = [][2]string{
	{"Newchannel", "Hangup"}, {"DialBegin", "DialEnd"}, {"BridgeEnter", "BridgeLeave"}, {"QueueCallerJoin", "QueueCallerLeave"},
}

// lint watches one AMI session and says what the PBX hides that the rules
// need, and what to change in manager.conf: read classes missing from the
// user's read= (or from ami.events), an eventfilter hiding one event of a
// pair, timestampevents off, calls that ran Queue() with no queue event.
// It does no I/O; the Source feeds it every frame. The warnings are
// derived from what this session saw, so a fixed PBX clears them at the
// next session. Safe for the reader and /readyz at once.
type lint struct {
	user, events string

	mu       sync.Mutex
	frames   uint64
	seen     map[string]uint64 // lintEvents by name
	classes  map[string]bool   // read classes seen in Privilege headers
	calls    map[string]bool   // distinct Linkedid values, up to lintCalls
	timed    uint64            // lintEvents with a Timestamp header
	untimed  uint64            // and without
	queueRun bool              // a channel ran Queue() (Newexten, or VarSet QUEUESTATUS)
	reported map[string]bool   // warnings already handed out by fresh
}

func newLint(cfg Config) *lint {
	return &lint{user: cfg.Username, events: cfg.events(), seen: map[string]uint64{}, classes: map[string]bool{},
		calls: map[string]bool{}, reported: map[string]bool{}}
}

// observe takes one frame and returns the warnings that are new since the
// last call that returned any (judged at a few points, not every frame).
func (l *lint) observe(f *Frame) []string {
	name := f.Event()
	if name == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.frames++
	judge := l.frames%1024 == 0
	for rest := f.Get("Privilege"); rest != ""; {
		var c string
		c, rest, _ = strings.Cut(rest, ",")
		if c = strings.TrimSpace(c); c != "" && c != "all" && !l.classes[c] && len(l.classes) < 32 {
			l.classes[strings.Clone(strings.ToLower(c))] = true // a copy: the frame is not pinned
		}
	}
	if _, ok := lintEvents[name]; ok {
		if l.seen[name] == 0 {
			name = strings.Clone(name)
		}
		l.seen[name]++
		if _, ok := f.Lookup("Timestamp"); ok {
			l.timed++
		} else {
			l.untimed++
		}
		judge = judge || l.timed+l.untimed == 1
	}
	if id := f.Get("Linkedid"); id != "" && len(l.calls) < lintCalls && !l.calls[id] {
		l.calls[strings.Clone(id)] = true
		judge = judge || len(l.calls) == lintCalls
	}
	switch name {
	case "Newexten":
		l.queueRun = l.queueRun || strings.EqualFold(f.Get("Application"), "Queue")
	case "VarSet":
		l.queueRun = l.queueRun || f.Get("Variable") == "QUEUESTATUS"
	}
	if !judge {
		return nil
	}
	return l.freshLocked()
}

// fresh returns the warnings not handed out yet (at connect: the event
// mask's).
func (l *lint) fresh() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.freshLocked()
}

func (l *lint) freshLocked() []string {
	var out []string
	for _, w := range l.warningsLocked() {
		if !l.reported[w] {
			l.reported[w] = true
			out = append(out, w)
		}
	}
	return out
}

// warnings is what to change, worst first; none when all is visible.
func (l *lint) warnings() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.warningsLocked()
}

func (l *lint) warningsLocked() []string {
	var out []string
	masked := l.maskMissing()
	if len(masked) > 0 {
		out = append(out, fmt.Sprintf("ami.events is %q: the rules also need %s: add them, or use on", l.events, strings.Join(masked, ", ")))
	}
	if l.untimed > 0 && l.timed == 0 {
		out = append(out, "events carry no Timestamp: set timestampevents = yes in manager.conf [general] (replay and the merge with ARI need Asterisk's event times)")
	}
	if len(l.calls) < lintCalls {
		return out
	}
	for _, c := range lintClasses {
		if slices.Contains(masked, c.class) || l.classSeen(c.class) || c.class == "user" || (c.class == "agent" && !l.queueRun) {
			continue // user events are optional; queue events only matter where queues run
		}
		out = append(out, fmt.Sprintf("no %s events in %d calls: add %s to read= of [%s] in manager.conf, or drop the eventfilter that hides them (%s)",
			c.class, len(l.calls), c.class, l.user, c.brings))
	}
	for _, p := range lintPairs {
		for _, ab := range [][2]string{{p[0], p[1]}, {p[1], p[0]}} {
			if l.seen[ab[0]] >= lintCalls && l.seen[ab[1]] == 0 {
				out = append(out, fmt.Sprintf("%s arrives but %s never does (%d calls): an eventfilter on [%s] in manager.conf hides it", ab[0], ab[1], len(l.calls), l.user))
			}
		}
	}
	return out
}

// classSeen reports whether any event of class arrived (by its Privilege
// header, or by its name when Asterisk sent no Privilege).
func (l *lint) classSeen(class string) bool {
	if l.classes[class] {
		return true
	}
	for name, c := range lintEvents {
		if c == class && l.seen[name] > 0 {
			return true
		}
	}
	return false
}

// maskMissing lists the needed classes the Login event mask leaves out.
func (l *lint) maskMissing() []string {
	mask := map[string]bool{}
	for _, c := range strings.Split(strings.ToLower(l.events), ",") {
		mask[strings.TrimSpace(c)] = true
	}
	if mask["on"] || mask["all"] {
		return nil
	}
	var out []string
	for _, c := range lintClasses {
		if !mask[c.class] {
			out = append(out, c.class)
		}
	}
	return out
}
