package cel

import (
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

// Options tunes Translate.
type Options struct {
	// QueueLog says the queue_log of the same calls is part of the input.
	// queue_log writes nothing for a caller refused at join (joinempty,
	// joinunavail, full), so a Queue() run with no ENTERQUEUE line is then
	// read as refused: QUEUESTATUS=JOINEMPTY (the three cannot be told
	// apart). Without queue_log nothing is inferred.
	QueueLog bool
}

// Stats counts what Translate did with its input.
type Stats struct {
	Records    int // CEL rows in
	QueueLines int // queue_log lines in
	Events     int // events out
	// Ignored: rows and lines that carry nothing the engine reads
	// (CHAN_END, LINKEDID_END, DTMF, RINGNOANSWER, QUEUESTART...).
	Ignored int
	// Unknown: CEL event types and queue_log events this translator does
	// not know; counted and skipped.
	Unknown int
	// Unanchored: queue_log lines of a caller with no CEL rows in the input
	// (skipped: a call cannot be built from queue_log alone).
	Unanchored int
	// Inferred: facts CEL does not record, read from what is missing
	// (CHANUNAVAIL for a Dial that made no channel, JOINEMPTY for a Queue
	// run with no ENTERQUEUE).
	Inferred int
}

// Result is a translation: events for mapping.Machine.Apply, in order.
type Result struct {
	// Events carry Source mapping.SourceAMI (the engine knows no other
	// connection; run them through a Machine of their own) and Seq = index
	// + 1, which Label turns back into the record they came from.
	Events []mapping.Event
	Stats  Stats
	labels []string
}

// Label names the CEL row or queue_log line behind the event with sequence
// number seq (cel:<id>:<EVENTTYPE>, queue_log:<n>:<EVENT>), "" if none.
func (r *Result) Label(seq uint64) string {
	if seq == 0 || seq > uint64(len(r.labels)) {
		return ""
	}
	return r.labels[seq-1]
}

// Relabel rewrites a status's evidence from the engine's event names
// (ami:<seq>:<kind>) to the records they came from.
func (r *Result) Relabel(st *mapping.CallStatus) {
	for i, ev := range st.Evidence.Events {
		src, rest, ok := strings.Cut(ev, ":")
		if !ok || src != mapping.SourceAMI.String() {
			continue
		}
		n, _, _ := strings.Cut(rest, ":")
		seq, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			continue
		}
		if l := r.Label(seq); l != "" {
			st.Evidence.Events[i] = l
		}
	}
}

// The CEL event types Translate reads; any other is Unknown (unless it is a
// user-defined event written under its own name, see USER_DEFINED).
var known = map[string]bool{
	"CHAN_START": true, "CHAN_END": true, "ANSWER": true, "HANGUP": true, "APP_START": true, "APP_END": true,
	"BRIDGE_ENTER": true, "BRIDGE_EXIT": true, "BLINDTRANSFER": true, "ATTENDEDTRANSFER": true,
	"PICKUP": true, "FORWARD": true, "PARK_START": true, "PARK_END": true, "LOCAL_OPTIMIZE": true,
	"LOCAL_OPTIMIZE_BEGIN": true, "USER_DEFINED": true, "LINKEDID_END": true, "STREAM_BEGIN": true,
	"STREAM_END": true, "DTMF": true, "CONF_ENTER": true, "CONF_EXIT": true, "CONF_START": true, "CONF_END": true,
}

// run is one Dial() or Queue() of a channel: from APP_START to APP_END, the
// channels it created are its legs.
type run struct {
	caller   *Record // the APP_START row
	queue    string  // Queue(): the queue name
	start    int     // row positions
	end      int     // -1 while open / when never ended
	legs     []string
	answered bool
	dialing  bool // still creating legs: no leg answered yet
	joined   bool // queue_log ENTERQUEUE seen
	agent    string
	// virtual: the run begins at start without an APP_START row of its
	// own (a second Queue() in a row, split by queue_log; see
	// splitQueueRuns); endsVirtually: it ends at end, before that row.
	virtual, endsVirtually bool
}

type translator struct {
	opts  Options
	rows  []Record
	res   *Result
	pre   [][]pending // events before row p (queue_log anchored there)
	post  [][]pending // events after row p
	runs  map[string][]*run
	queue map[string][]*run // Queue() runs by caller uniqueid
	// facts read ahead
	answerAt map[string]int    // uniqueid -> position of its first ANSWER
	hangup   map[string]hangup // uniqueid -> its HANGUP
	lastRun  map[string]*run   // uniqueid -> its last Dial/Queue run
	legRun   map[string]*run   // leg uniqueid -> the run that created it
	legDone  map[string]bool   // leg's DialEnd emitted
	bridges  map[string]int    // bridge id -> members
	known    map[string]bool   // uniqueids with CEL rows
	half     map[string]string // Local ;1 uniqueid -> its ;2 half
	byLinked map[string][]*run // runs by their caller's linkedid
	vend     map[int][]*run    // runs split off, by the row they end before
	byName   map[string]string // channel name -> uniqueid (latest CHAN_START)
}

type pending struct {
	ev    mapping.Event
	label string
}

type hangup struct {
	cause      int
	source     string
	dialstatus string
}

// Translate turns the CEL rows and queue_log lines of whole calls into
// engine events. Rows are taken in time order (then id); a call's rows must
// all be there, since how a dial ended is read from the rows after it.
//
// CEL has no dial events: a channel created while another channel of the
// same linkedid runs Dial() or Queue() is that run's leg (DialBegin); it
// answered (DialEnd ANSWER) when its ANSWER row comes while the run still
// rings; otherwise it ends with what its hangup says: CANCEL when another
// leg of the run answered, the caller's dialstatus (HANGUP extra) for its
// last run, else the leg's own hangup cause (17 BUSY, 34/38 CONGESTION, 19
// NOANSWER...). queue_log lines are placed inside the Queue() run they
// belong to (their whole-second times cannot order them against CEL).
func Translate(rows []Record, lines []QueueLine, opts Options) *Result {
	t := &translator{
		opts: opts, res: &Result{}, runs: map[string][]*run{}, queue: map[string][]*run{},
		answerAt: map[string]int{}, hangup: map[string]hangup{}, lastRun: map[string]*run{},
		legRun: map[string]*run{}, legDone: map[string]bool{}, bridges: map[string]int{},
		known: map[string]bool{}, half: map[string]string{},
		byLinked: map[string][]*run{}, vend: map[int][]*run{}, byName: map[string]string{},
	}
	t.res.Stats.Records, t.res.Stats.QueueLines = len(rows), len(lines)
	t.rows = slices.Clone(rows)
	sort.SliceStable(t.rows, func(i, j int) bool {
		a, b := t.rows[i], t.rows[j]
		if !a.EventTime.Equal(b.EventTime) {
			return a.EventTime.Before(b.EventTime)
		}
		return a.ID < b.ID
	})
	// About one event per row and a few more: grown once, not by doubling.
	t.res.Events = make([]mapping.Event, 0, len(t.rows)+len(t.rows)/4+2*len(lines))
	t.res.labels = make([]string, 0, cap(t.res.Events))
	t.pre = make([][]pending, len(t.rows)+1)
	t.post = make([][]pending, len(t.rows)+1)
	t.facts()
	t.splitQueueRuns(lines)
	t.anchorQueueLog(lines)
	for p := range t.rows {
		t.flush(t.pre[p])
		t.closeVirtual(p)
		t.row(p)
		t.flush(t.post[p])
	}
	t.flush(t.pre[len(t.rows)])
	t.res.Stats.Events = len(t.res.Events)
	return t.res
}

func (t *translator) flush(ps []pending) {
	for _, p := range ps {
		t.emit(p.ev, p.label)
	}
}

func (t *translator) emit(e mapping.Event, label string) {
	e.Source = mapping.SourceAMI
	e.Seq = uint64(len(t.res.Events) + 1)
	t.res.Events = append(t.res.Events, e)
	t.res.labels = append(t.res.labels, label)
}

func isRunApp(app string) bool {
	return strings.EqualFold(app, "Dial") || strings.EqualFold(app, "Queue")
}

// facts reads ahead: each channel's Dial/Queue runs, first answer and hangup.
func (t *translator) facts() {
	open := map[string]*run{}
	first := map[string]string{} // Local channel base name -> ;1 uniqueid
	for p := range t.rows {
		r := &t.rows[p]
		t.known[r.UniqueID] = true
		switch r.EventType {
		case "CHAN_START":
			if base, ok := strings.CutSuffix(r.ChanName, ";1"); ok && strings.HasPrefix(r.ChanName, "Local/") {
				first[base] = r.UniqueID
			} else if base, ok := strings.CutSuffix(r.ChanName, ";2"); ok && first[base] != "" {
				t.half[first[base]] = r.UniqueID
			}
		case "APP_START":
			if isRunApp(r.AppName) {
				ru := &run{caller: r, start: p, end: -1, dialing: true}
				if strings.EqualFold(r.AppName, "Queue") {
					q, _, _ := strings.Cut(r.AppData, ",")
					ru.queue = strings.TrimSpace(q)
					t.queue[r.UniqueID] = append(t.queue[r.UniqueID], ru)
				}
				t.runs[r.UniqueID] = append(t.runs[r.UniqueID], ru)
				t.byLinked[r.LinkedID] = append(t.byLinked[r.LinkedID], ru)
				t.lastRun[r.UniqueID] = ru
				open[r.UniqueID+"\x00"+strings.ToLower(r.AppName)] = ru
			}
		case "APP_END":
			if isRunApp(r.AppName) {
				k := r.UniqueID + "\x00" + strings.ToLower(r.AppName)
				if ru := open[k]; ru != nil {
					ru.end = p
					delete(open, k)
				}
			}
		case "ANSWER":
			if _, ok := t.answerAt[r.UniqueID]; !ok {
				t.answerAt[r.UniqueID] = p
			}
		case "HANGUP":
			t.hangup[r.UniqueID] = parseHangup(r.Extra)
		}
	}
}

func parseHangup(extra string) hangup {
	var x struct {
		Cause      json.Number `json:"hangupcause"`
		Source     string      `json:"hangupsource"`
		DialStatus string      `json:"dialstatus"`
	}
	if json.Unmarshal([]byte(extra), &x) != nil {
		return hangup{}
	}
	c, _ := strconv.Atoi(x.Cause.String())
	return hangup{cause: c, source: x.Source, dialstatus: strings.ToUpper(strings.TrimSpace(x.DialStatus))}
}

func extraMap(extra string) map[string]any {
	var m map[string]any
	if extra == "" || json.Unmarshal([]byte(extra), &m) != nil {
		return nil
	}
	return m
}

func str(m map[string]any, k string) string {
	if s, ok := m[k].(string); ok {
		return s
	}
	return ""
}

// chanOf is the row's channel. The caller is cid_ani when there is one:
// after a pickup, a parked-call retrieval or an attended transfer,
// connected-line updates leave the other party in cid_num/cid_name (the
// caller of 850341 shows "Phone 241"), while cid_ani keeps who called.
func chanOf(r *Record) mapping.Channel {
	num, name := r.CIDNum, r.CIDName
	if r.CIDANI != "" && r.CIDANI != r.CIDNum {
		num, name = r.CIDANI, ""
	}
	return mapping.Channel{UniqueID: r.UniqueID, LinkedID: r.LinkedID, Name: r.ChanName,
		CallerNum: num, CallerName: name, Context: r.Context, Exten: r.Exten}
}

// caller is the run's calling channel as an event's Chan (no context: the
// engine reads contexts from the caller's own rows only).
func (ru *run) callerChan() mapping.Channel {
	return mapping.Channel{UniqueID: ru.caller.UniqueID, LinkedID: ru.caller.LinkedID, Name: ru.caller.ChanName}
}

func isLocalSecondHalf(name string) bool {
	return strings.HasPrefix(name, "Local/") && strings.HasSuffix(name, ";2")
}

func (t *translator) row(p int) {
	r := &t.rows[p]
	label := r.Label()
	ch := chanOf(r)
	ev := func(e mapping.Event) {
		if e.Chan.UniqueID == "" {
			e.Chan = ch
		}
		if e.Time.IsZero() {
			e.Time = r.EventTime
		}
		t.emit(e, label)
	}
	switch r.EventType {
	case "CHAN_START":
		t.byName[r.ChanName] = r.UniqueID
		ev(mapping.Event{Kind: mapping.ChannelCreated})
		if isLocalSecondHalf(r.ChanName) {
			return // the other half of a Local channel its ;1 half already is
		}
		if ru := t.dialer(r, p); ru != nil {
			ru.legs = append(ru.legs, r.UniqueID)
			t.legRun[r.UniqueID] = ru
			ev(mapping.Event{Kind: mapping.DialBegin, Chan: ru.callerChan(), Peer: ch, Queue: ru.queue,
				Value: ru.caller.AppData})
		}
	case "ANSWER":
		ch.State = "Up"
		ev(mapping.Event{Kind: mapping.ChannelState})
		if ru := t.legRun[r.UniqueID]; ru != nil && !t.legDone[r.UniqueID] && ru.dialing {
			t.legDone[r.UniqueID] = true
			ru.answered, ru.dialing = true, false
			ev(mapping.Event{Kind: mapping.DialEnd, Chan: ru.callerChan(), Peer: ch, Queue: ru.queue, Status: "ANSWER"})
		}
	case "HANGUP":
		h := t.hangup[r.UniqueID]
		if ru := t.legRun[r.UniqueID]; ru != nil && (ru.end < 0 || ru.end < p) {
			// The run already ended (or never does in these records):
			// the leg's end is told now. Otherwise its run's APP_END
			// tells it, in the order Dial() reported them.
			t.endLegs(ru, []string{r.UniqueID}, r.EventTime, ev)
		}
		if h.dialstatus != "" {
			ev(mapping.Event{Kind: mapping.VarSet, Name: "DIALSTATUS", Value: h.dialstatus})
		}
		ev(mapping.Event{Kind: mapping.ChannelHangup, Cause: h.cause, CauseText: causeText(h.cause)})
	case "APP_START":
		ev(mapping.Event{Kind: mapping.AppRun, Name: r.AppName, Value: r.AppData})
	case "APP_END":
		if !isRunApp(r.AppName) {
			t.res.Stats.Ignored++
			return
		}
		ru := t.openRun(r.UniqueID, r.AppName, p)
		if ru == nil {
			t.res.Stats.Ignored++
			return
		}
		t.endLegs(ru, ru.legs, r.EventTime, ev)
		if strings.EqualFold(r.AppName, "Dial") && len(ru.legs) == 0 {
			// Dial() made no channel at all (an unregistered endpoint):
			// CEL has no row for it and HANGUP's dialstatus stays empty.
			status := "CHANUNAVAIL"
			if h := t.hangup[r.UniqueID]; t.lastRun[r.UniqueID] == ru && h.dialstatus != "" {
				status = h.dialstatus
			} else {
				t.res.Stats.Inferred++
			}
			ev(mapping.Event{Kind: mapping.VarSet, Name: "DIALSTATUS", Value: status})
		}
		ru.dialing = false
	case "BRIDGE_ENTER", "BRIDGE_EXIT":
		id := str(extraMap(r.Extra), "bridge_id")
		if id == "" {
			id = "cel-bridge:" + r.Peer
		}
		kind := mapping.BridgeEnter
		if r.EventType == "BRIDGE_EXIT" {
			kind = mapping.BridgeLeave
			if t.bridges[id] > 0 {
				t.bridges[id]--
			}
		} else {
			t.bridges[id]++
		}
		ev(mapping.Event{Kind: kind, Bridge: id, Count: t.bridges[id]})
		if t.bridges[id] == 0 {
			delete(t.bridges, id)
		}
	case "BLINDTRANSFER":
		x := extraMap(r.Extra)
		ev(mapping.Event{Kind: mapping.Transfer, Status: "blind", Linked: channelIDs(str(x, "transferee_channel_uniqueid")),
			Value: str(x, "extension") + "@" + str(x, "context")})
	case "ATTENDEDTRANSFER":
		x := extraMap(r.Extra)
		ev(mapping.Event{Kind: mapping.Transfer, Status: "attended", Linked: channelIDs(str(x, "channel2_uniqueid"),
			str(x, "transferee_channel_uniqueid"), str(x, "transfer_target_channel_uniqueid"))})
	case "PICKUP":
		// The ringing leg was picked up by another phone (extra
		// pickup_channel). AMI then reports the dial answered by the
		// picker (DialEnd ANSWER to it): the leg was answered elsewhere,
		// and the picker, which moves to this call's linkedid, is the
		// answering party.
		ru := t.legRun[r.UniqueID]
		if ru == nil || t.legDone[r.UniqueID] || !ru.dialing {
			t.res.Stats.Ignored++
			return
		}
		t.legDone[r.UniqueID] = true
		ru.answered, ru.dialing = true, false
		ev(mapping.Event{Kind: mapping.DialEnd, Chan: ru.callerChan(), Peer: ch, Queue: ru.queue, Status: "CANCEL"})
		name := str(extraMap(r.Extra), "pickup_channel")
		if uid := t.byName[name]; uid != "" {
			ev(mapping.Event{Kind: mapping.DialEnd, Chan: ru.callerChan(), Peer: mapping.Channel{UniqueID: uid, Name: name},
				Queue: ru.queue, Status: "ANSWER"})
		}
	case "STREAM_BEGIN", "STREAM_END":
		// Media streamed to the channel: a dialplan Playback or an ARI
		// playback (the ARI voicemail drop shows here, in Stasis).
		kind := mapping.PlaybackStarted
		if r.EventType == "STREAM_END" {
			kind = mapping.PlaybackFinished
		}
		sound := str(extraMap(r.Extra), "sound")
		if sound == "" {
			sound = r.AppData
		}
		ev(mapping.Event{Kind: kind, Value: sound})
	case "USER_DEFINED":
		ev(mapping.Event{Kind: mapping.UserEvent, Name: r.UserDefType, Value: r.Extra})
	default:
		switch {
		case known[r.EventType]:
			// CHAN_END (HANGUP said it), LINKEDID_END, PARK_*,
			// LOCAL_OPTIMIZE, FORWARD, DTMF, CONF_*: the channel and
			// bridge rows around them tell the engine all it reads.
			t.res.Stats.Ignored++
		case r.UserDefType != "" && r.UserDefType == r.EventType:
			// cel_pgsql with show_user_defined = no writes a
			// CELGenUserEvent under its own name.
			ev(mapping.Event{Kind: mapping.UserEvent, Name: r.UserDefType, Value: r.Extra})
		default:
			t.res.Stats.Unknown++
		}
	}
}

// channelIDs are a transfer's channel ids, those it has: Asterisk writes
// "N/A" for a channel the transfer did not know (an attended transfer's
// target already moved to the other bridge, seen under load).
func channelIDs(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" && s != "N/A" {
			out = append(out, s)
		}
	}
	return out
}

// dialer finds the run that created the channel of CHAN_START row r: the
// latest run of another channel of the same linkedid that still rings.
func (t *translator) dialer(r *Record, p int) *run {
	var best *run
	for _, ru := range t.byLinked[r.LinkedID] {
		if ru.caller.UniqueID == r.UniqueID {
			continue
		}
		started := ru.start < p || (ru.virtual && ru.start == p)
		if started && (ru.end < 0 || ru.end > p) && ru.dialing {
			if best == nil || ru.start > best.start {
				best = ru
			}
		}
	}
	return best
}

func (t *translator) openRun(uid, app string, p int) *run {
	for _, ru := range t.runs[uid] {
		if ru.end == p && !ru.endsVirtually && strings.EqualFold(ru.caller.AppName, app) {
			return ru
		}
	}
	return nil
}

// endLegs emits the DialEnd of each leg of ru that has none yet, at time
// at. The leg whose word is the run's result goes last, a microsecond after
// the others: Dial() reports a busy leg at once, but CEL shows its end only
// when Dial() hangs it up, and the call's dial result is what Dial()
// returned.
func (t *translator) endLegs(ru *run, legs []string, at time.Time, ev func(mapping.Event)) {
	final := t.runResult(ru)
	var last *mapping.Event
	for _, uid := range legs {
		if t.legDone[uid] {
			continue
		}
		t.legDone[uid] = true
		e := mapping.Event{Kind: mapping.DialEnd, Chan: ru.callerChan(), Peer: mapping.Channel{UniqueID: uid},
			Queue: ru.queue, Status: t.legStatus(uid, ru)}
		if last == nil && e.Status == final {
			last = &e
			continue
		}
		e.Time = at.Add(-time.Microsecond)
		ev(e)
	}
	if last != nil {
		last.Time = at
		ev(*last)
	}
}

// legCause is the hangup cause of a leg: a Local leg's far half says why
// when its own half says nothing (Busy() runs there).
func (t *translator) legCause(uid string) int {
	cause := t.hangup[uid].cause
	if h, ok := t.hangup[t.half[uid]]; ok && (cause == 0 || cause == 16) {
		cause = h.cause
	}
	return cause
}

// causeStatus is the dial word a hangup cause stands for, "" for causes
// that say nothing about why a leg did not answer.
func causeStatus(cause int) string {
	switch cause {
	case 17, 21:
		return "BUSY"
	case 1, 3, 20, 27, 28:
		return "CHANUNAVAIL"
	case 34, 38, 41, 42, 44:
		return "CONGESTION"
	}
	return ""
}

// legStatus is the DIALSTATUS word of a leg that did not answer: CANCEL
// when another leg of its run did; what its own hangup cause says when it
// says something (busy, unreachable, congested); else the run's result.
func (t *translator) legStatus(uid string, ru *run) string {
	if ru.answered {
		return "CANCEL"
	}
	if s := causeStatus(t.legCause(uid)); s != "" {
		return s
	}
	return t.runResult(ru)
}

// runResult is what Dial() returned, as app_dial decides it: ANSWER; BUSY
// (CONGESTION, CHANUNAVAIL) when every leg was; CANCEL when the caller's
// side hung up while it rang; else NOANSWER. The caller's HANGUP dialstatus
// is not it: that is the last word any leg reported (BUSY in a ring group
// where one phone was busy and the other rang out).
func (t *translator) runResult(ru *run) string {
	if ru.answered {
		return "ANSWER"
	}
	if len(ru.legs) > 0 {
		all := causeStatus(t.legCause(ru.legs[0]))
		for _, uid := range ru.legs[1:] {
			if causeStatus(t.legCause(uid)) != all {
				all = ""
			}
		}
		if all != "" {
			return all
		}
	}
	end := ru.end
	if end < 0 {
		end = len(t.rows)
	}
	ours := map[string]bool{}
	for _, uid := range ru.legs {
		ours[uid], ours[t.half[uid]] = true, true
	}
	for p := ru.start + 1; p < end; p++ {
		r := &t.rows[p]
		if r.EventType == "HANGUP" && r.LinkedID == ru.caller.LinkedID && !ours[r.UniqueID] {
			return "CANCEL"
		}
	}
	if c := t.hangup[ru.caller.UniqueID].dialstatus; len(ru.legs) == 1 && t.lastRun[ru.caller.UniqueID] == ru &&
		(c == "CANCEL" || c == "NOANSWER") {
		return c
	}
	return "NOANSWER"
}

// splitQueueRuns: CEL writes APP_START/APP_END when a channel's application
// changes, so Queue(sales) then Queue(overflow) is one run in CEL. Each
// ENTERQUEUE after the first of a run starts a run of its own, at the
// caller's linkedid's first row in that line's second (the legs of the new
// queue are created right after the caller joins it).
func (t *translator) splitQueueRuns(lines []QueueLine) {
	enters := slices.Clone(lines)
	enters = slices.DeleteFunc(enters, func(q QueueLine) bool { return q.Event != "ENTERQUEUE" })
	sort.SliceStable(enters, func(i, j int) bool { return enters[i].Time.Before(enters[j].Time) })
	for _, q := range enters {
		var cur *run
		for _, ru := range t.queue[q.CallID] {
			start := t.rows[ru.start].EventTime.Truncate(time.Second)
			if !start.After(q.Time) && (ru.end < 0 || !t.rows[ru.end].EventTime.Before(q.Time)) {
				cur = ru
			}
		}
		if cur == nil {
			continue
		}
		if !cur.joined && cur.queue == q.Queue {
			cur.joined = true // its own ENTERQUEUE; anchorQueueLog places it
			continue
		}
		if !cur.joined {
			continue // the first line names another queue: leave it to anchoring
		}
		end := cur.end
		if end < 0 {
			end = len(t.rows)
		}
		b := -1
		for p := cur.start + 1; p < end; p++ {
			if r := &t.rows[p]; r.LinkedID == cur.caller.LinkedID && !r.EventTime.Before(q.Time) {
				b = p
				break
			}
		}
		if b < 0 {
			continue
		}
		next := &run{caller: cur.caller, queue: q.Queue, start: b, end: cur.end, dialing: true, joined: true,
			virtual: true, endsVirtually: cur.endsVirtually}
		cur.end, cur.endsVirtually = b, true
		t.queue[q.CallID] = append(t.queue[q.CallID], next)
		t.runs[q.CallID] = append(t.runs[q.CallID], next)
		t.byLinked[next.caller.LinkedID] = append(t.byLinked[next.caller.LinkedID], next)
		t.vend[b] = append(t.vend[b], cur)
		if t.lastRun[q.CallID] == cur {
			t.lastRun[q.CallID] = next
		}
		// anchorQueueLog puts the new queue's AppRun before row b, after
		// the old queue's exit (lines are placed in time order).
	}
}

// closeVirtual ends the runs split off at row p: their legs' DialEnds.
func (t *translator) closeVirtual(p int) {
	for _, ru := range t.vend[p] {
		if !ru.endsVirtually || ru.end != p {
			continue // split again later
		}
		t.endLegs(ru, ru.legs, t.rows[p].EventTime, func(e mapping.Event) {
			if e.Time.IsZero() {
				e.Time = t.rows[p].EventTime
			}
			t.emit(e, t.rows[p].Label())
		})
		ru.dialing = false
	}
}

// anchorQueueLog places each queue_log line inside the Queue() run of its
// caller and queue: ENTERQUEUE just after the run's APP_START, CONNECT just
// after the agent leg's ANSWER, the outcome lines just before its APP_END.
func (t *translator) anchorQueueLog(lines []QueueLine) {
	sorted := slices.Clone(lines)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Time.Before(sorted[j].Time) })
	for _, q := range sorted {
		if q.CallID == "" || q.CallID == "NONE" {
			t.res.Stats.Ignored++ // QUEUESTART, member and config lines
			continue
		}
		ru := t.queueRun(q)
		if ru == nil {
			t.res.Stats.Unanchored++
			continue
		}
		label := q.Label()
		caller := ru.caller
		at := func(list [][]pending, p int, e mapping.Event) {
			e.Chan = mapping.Channel{UniqueID: caller.UniqueID, LinkedID: caller.LinkedID, Name: caller.ChanName}
			e.Queue = ru.queue
			e.Time = t.rows[min(p, len(t.rows)-1)].EventTime
			list[p] = append(list[p], pending{ev: e, label: label})
		}
		end := ru.end
		if end < 0 {
			end = len(t.rows) // still in the queue when the records end
		}
		switch q.Event {
		case "ENTERQUEUE":
			ru.joined = true
			pos, _ := strconv.Atoi(q.data(2))
			if ru.virtual {
				// No APP_START of its own: the queue_log line stands in.
				at(t.pre, ru.start, mapping.Event{Kind: mapping.AppRun, Name: caller.AppName, Value: ru.queue})
				at(t.pre, ru.start, mapping.Event{Kind: mapping.QueueJoin, Count: pos})
				break
			}
			at(t.post, ru.start, mapping.Event{Kind: mapping.QueueJoin, Count: pos})
		case "CONNECT":
			agent := q.data(1)
			p := end
			list := t.pre
			if a, ok := t.answerAt[agent]; ok && a > ru.start && a < end {
				p, list = a, t.post
			}
			at(list, p, mapping.Event{Kind: mapping.QueueLeave, Status: "CONNECT"})
			if t.known[agent] {
				ru.agent = agent
				at(list, p, mapping.Event{Kind: mapping.AgentConnect, Peer: mapping.Channel{UniqueID: agent}})
			}
		case "ABANDON":
			at(t.pre, end, mapping.Event{Kind: mapping.QueueAbandon})
			at(t.pre, end, mapping.Event{Kind: mapping.QueueLeave, Status: "ABANDON"})
		case "EXITWITHTIMEOUT", "EXITEMPTY":
			status := "TIMEOUT"
			if q.Event == "EXITEMPTY" {
				status = "LEAVEEMPTY"
			}
			at(t.pre, end, mapping.Event{Kind: mapping.QueueLeave, Status: q.Event})
			at(t.pre, end, mapping.Event{Kind: mapping.VarSet, Name: "QUEUESTATUS", Value: status})
		case "EXITWITHKEY":
			// The caller left by pressing a key: an abandon by the
			// engine's rules (no QUEUESTATUS of the timeout kind).
			at(t.pre, end, mapping.Event{Kind: mapping.QueueLeave, Status: "EXITWITHKEY", Value: q.data(0)})
		case "COMPLETECALLER", "COMPLETEAGENT":
			if ru.agent != "" {
				at(t.pre, end, mapping.Event{Kind: mapping.AgentComplete, Peer: mapping.Channel{UniqueID: ru.agent},
					Status: q.Event})
			} else {
				t.res.Stats.Ignored++
			}
		case "RINGNOANSWER", "RINGCANCELED", "TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER",
			"AGENTDUMP", "SYSCOMPAT", "ADDMEMBER", "REMOVEMEMBER", "PAUSE", "UNPAUSE", "PAUSEALL", "UNPAUSEALL":
			// Leg outcomes and transfers come from CEL; member changes
			// are not about a call.
			t.res.Stats.Ignored++
		default:
			t.res.Stats.Unknown++
		}
	}
	if !t.opts.QueueLog {
		return
	}
	for _, runs := range t.queue {
		for _, ru := range runs {
			if ru.joined || ru.end < 0 {
				continue
			}
			// Refused at join: queue_log wrote nothing, AMI would have
			// said QUEUESTATUS=JOINEMPTY (or JOINUNAVAIL, FULL).
			t.res.Stats.Inferred++
			end := &t.rows[ru.end]
			t.pre[ru.end] = append(t.pre[ru.end], pending{label: end.Label(), ev: mapping.Event{
				Kind: mapping.VarSet, Time: end.EventTime, Name: "QUEUESTATUS", Value: "JOINEMPTY",
				Chan: mapping.Channel{UniqueID: end.UniqueID, LinkedID: end.LinkedID, Name: end.ChanName}}})
		}
	}
}

// queueRun is the Queue() run a queue_log line belongs to: same caller and
// queue, and running during the line's second.
func (t *translator) queueRun(q QueueLine) *run {
	var best *run
	for _, ru := range t.queue[q.CallID] {
		if ru.queue != q.Queue {
			continue
		}
		start := t.rows[ru.start].EventTime.Truncate(time.Second)
		if start.After(q.Time) {
			continue
		}
		if ru.end >= 0 && t.rows[ru.end].EventTime.Before(q.Time) {
			continue
		}
		if best == nil || ru.start > best.start {
			best = ru
		}
	}
	return best
}

// causeText is Asterisk's text for the common Q.850 causes (ast_cause2str).
func causeText(c int) string {
	switch c {
	case 0:
		return "Unknown"
	case 1:
		return "Unallocated (unassigned) number"
	case 3:
		return "No route to destination"
	case 16:
		return "Normal Clearing"
	case 17:
		return "User busy"
	case 18:
		return "No user responding"
	case 19:
		return "User alerting, no answer"
	case 20:
		return "Subscriber absent"
	case 21:
		return "Call Rejected"
	case 26:
		return "Answered elsewhere"
	case 27:
		return "Destination out of order"
	case 28:
		return "Invalid number format"
	case 31:
		return "Normal, unspecified"
	case 34:
		return "Circuit/channel congestion"
	case 38:
		return "Network out of order"
	case 127:
		return "Interworking, unspecified"
	}
	return ""
}
