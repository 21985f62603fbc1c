package mapping

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// finalize turns a finished call into its one status and forgets it. why is
// "" for a normal end, or what cut the call short (ttl, evicted).
func (m *Machine) finalize(cl *call, now time.Time, why string) CallStatus {
	m.current = cl
	st := m.decide(cl)
	if why != "" {
		st.Incomplete = true
		st.Inferred = why
		if st.End.IsZero() || st.End.Before(cl.last) {
			st.End = cl.last
		}
	}
	if cl.gap {
		st.Incomplete = true
		if st.Inferred == "" {
			st.Inferred = "source_gap"
		}
		m.stats.Orphaned++
	}
	// Forget the call, but remember its channels for a while so the other
	// source's late reports of the same channels open no new call.
	m.retire(cl)
	// Dated by the engine's clock, not the call's last event: a call
	// ended by the TTL sweep is hours old, and its channels must still
	// be remembered for the whole keep window after it was published.
	m.tick(now)
	m.tick(cl.last)
	stamp := m.clock.Time()
	for _, l := range append(cl.aliases, cl.linked) {
		if m.byLinked[l] == cl {
			delete(m.byLinked, l)
		}
		// A linkedid is its first channel's uniqueid: only input that
		// contradicts itself makes it the id of a live channel elsewhere.
		if _, live := m.chans[l]; !live {
			m.bury(l, stamp)
		}
	}
	for _, c := range cl.chans {
		delete(m.chans, c.id)
		m.bury(c.id, stamp)
		if c.bridge != "" {
			m.leaveBridge(c, c.bridge)
		}
		if base, ok := localBase(c.name); ok && m.locals[base] == c {
			delete(m.locals, base)
		}
	}
	m.stats.Calls++
	return st
}

// decide turns a finished call into its status in named steps: each
// derives one part of the answer from the call and the steps before it;
// the status itself comes from the rule table (rules.go).
func (m *Machine) decide(cl *call) CallStatus {
	m.lateLegs(cl)
	f := &facts{cl: cl, cfg: &m.cfg}
	f.findOrigin(cl)
	f.findDirection(m.cfg, cl)
	f.findLegs(cl)
	f.findVisits(cl)
	f.findIVR()
	st := CallStatus{
		Schema:      SchemaVersion,
		PBX:         m.cfg.PBXID,
		LinkedID:    cl.linked,
		CallID:      m.cfg.PBXID + ":" + cl.linked,
		Start:       cl.start,
		Direction:   f.dir,
		Internal:    f.dir == DirInternal,
		Transferred: cl.transfer,
	}
	st.Voicemail = f.voicemail()
	f.channels(&st)
	f.legOutcomes(&st)
	f.visitRecords(&st)
	st.IVR = f.ivr
	f.parties(&st)
	st.DialStatus = f.dialStatus()
	f.timings(&st)
	f.classify(&st)
	return st
}

// facts is what the steps derived from a call: the input of the rules.
type facts struct {
	cl    *call
	cfg   *Config
	chans []*channel // by creation
	// peers: every dialed leg and the other half of a dialed Local
	// channel; the rest is the origin side (the caller and the
	// dialplan working for it).
	peers  map[*channel]bool
	origin *channel

	dir      Direction
	dirRule  string
	dirExten string // the extension dialed in the direction context

	legList  []*leg // by ring start
	answered *leg   // the leg that answered: the agent
	reached  *leg   // the leg the caller's side dialed that answered (or the last dialed)

	visits    []*visit // by start
	handledBy *visit   // the first visit an agent connected in

	ivr bool // the PBX answered an inbound caller before any phone rang
}

// findOrigin: the linkedid channel when it is one of ours and not a dialed leg,
// else the first channel that nobody dialed.
func (f *facts) findOrigin(cl *call) {
	f.chans = slices.Clone(cl.chans)
	slices.SortStableFunc(f.chans, func(a, b *channel) int {
		return cmp.Or(cmp.Compare(a.created, b.created), cmp.Compare(a.order, b.order))
	})
	f.peers = peerSide(cl)
	for _, c := range f.chans {
		if c.id == cl.linked && !f.peers[c] {
			f.origin = c
		}
	}
	for _, c := range f.chans {
		if f.origin == nil && !f.peers[c] {
			f.origin = c
		}
	}
	if f.origin == nil {
		f.origin = f.chans[0]
	}
}

// peerSide marks the dialed legs, the phones that picked up or retrieved
// the call, and the other half of each of their Local channels.
func peerSide(cl *call) map[*channel]bool {
	peers := make(map[*channel]bool, len(cl.chans))
	byBase := make(map[string][]*channel)
	for _, c := range cl.chans {
		if base, ok := localBase(c.name); ok {
			byBase[base] = append(byBase[base], c)
		}
	}
	var mark func(c *channel)
	mark = func(c *channel) {
		if peers[c] {
			return
		}
		peers[c] = true
		if base, ok := localBase(c.name); ok {
			for _, o := range byBase[base] {
				mark(o)
			}
		}
	}
	for _, c := range cl.chans {
		if c.peer || c.picker {
			mark(c) // a phone that picked up or retrieved the call is a callee too
		}
	}
	return peers
}

// findDirection: the dialplan's word, then the first origin-side context we
// know, then a trunk-named origin; an outbound call that dialed no trunk
// is internal.
func (f *facts) findDirection(cfg Config, cl *call) {
	var dirCtx uint8
	for _, c := range f.chans {
		if !f.peers[c] && c.dirCtx != 0 {
			dirCtx, f.dirExten = c.dirCtx, c.dirExten
			break
		}
	}
	nIn := uint8(len(cfg.InboundContexts))
	f.dir, f.dirRule = DirOutbound, "default"
	switch {
	case cl.dirVar == "inbound" || cl.dirVar == "outbound" || cl.dirVar == "internal":
		f.dir, f.dirRule = Direction(cl.dirVar), "variable"
	case dirCtx != 0 && dirCtx <= nIn:
		f.dir, f.dirRule = DirInbound, "context"
	case dirCtx > nIn:
		f.dir, f.dirRule = DirOutbound, "context"
	case matchAny(cfg.TrunkChannels, f.origin.name):
		f.dir, f.dirRule = DirInbound, "trunk"
	}
	if f.dir == DirOutbound && f.dirRule != "variable" && len(cl.legs) == 0 && cl.feature != 0 {
		f.dir = DirInternal // a feature code: the user and the PBX
	}
	if f.dir == DirOutbound && f.dirRule != "variable" && len(cl.legs) > 0 &&
		!slices.ContainsFunc(cl.legs, func(l *leg) bool { return matchAny(cfg.TrunkChannels, l.peer.name) }) {
		f.dir = DirInternal
	}
}

// findLegs: the legs in the order they began; the one that answered first (an agent
// before a plain answer) is the agent, followed down through Local
// channels to the real phone.
func (f *facts) findLegs(cl *call) {
	f.legList = slices.Clone(cl.legs)
	slices.SortStableFunc(f.legList, func(a, b *leg) int { return cmp.Compare(a.begin, b.begin) })
	for _, l := range f.legList {
		if a := f.answered; l.answered() && (a == nil || l.answeredAt().Before(a.answeredAt()) || (l.agent && !a.agent)) {
			f.answered = l
		}
	}
	f.reached = f.answered
	if f.reached == nil && len(f.legList) > 0 {
		f.reached = f.legList[len(f.legList)-1]
	}
	for depth := 0; f.answered != nil && depth < 4; depth++ {
		base, ok := localBase(f.answered.peer.name)
		if !ok {
			break
		}
		var next *leg
		for _, l := range f.legList {
			if l != f.answered && l.answered() && strings.HasPrefix(l.caller.name, base) {
				next = l
			}
		}
		if next == nil {
			break
		}
		f.answered = next
	}
}

// findVisits: the queue visits in the order they began.
func (f *facts) findVisits(cl *call) {
	f.visits = slices.Clone(cl.visits)
	slices.SortStableFunc(f.visits, func(a, b *visit) int { return a.start.Compare(b.start) })
	for _, v := range f.visits {
		if v.agent != nil && f.handledBy == nil {
			f.handledBy = v
		}
	}
}

func (f *facts) lastVisit() *visit {
	if len(f.visits) == 0 {
		return nil
	}
	return f.visits[len(f.visits)-1]
}

// voicemail: the box the caller reached, whether a message was saved
// (VM_MESSAGEFILE), and the time in the box, greeting included (to the
// application's end, else the caller's hangup).
func (f *facts) voicemail() *Voicemail {
	vm := f.cl.vm
	if vm == nil {
		return nil
	}
	end := vm.end
	if end.IsZero() {
		end = f.origin.goneAt
	}
	v := &Voicemail{Box: vm.box, Reached: true, MessageLeft: vm.left}
	if !end.IsZero() && !vm.start.IsZero() {
		v.Seconds = seconds(end.Time().Sub(vm.start.Time()))
	}
	return v
}

// dialStatus: the answered leg's DIALSTATUS (a queue's losing members end
// CANCEL after the winner), else the last dial's, else the variable's. A
// CANCEL the caller did not cause (the PBX stopped ringing before the
// caller's side hung up: a queue or ring timeout) says less than the
// members' NOANSWER, which wins.
func (f *facts) dialStatus() string {
	if a := f.answered; a != nil && a.status != "" {
		return a.status
	}
	cl := f.cl
	if cl.lastDial == "CANCEL" && slices.ContainsFunc(f.legList, func(l *leg) bool { return l.status == "NOANSWER" }) &&
		!slices.ContainsFunc(f.chans, func(c *channel) bool { return !f.peers[c] && !c.hungAt.IsZero() && c.hungAt <= cl.lastDialAt }) {
		return "NOANSWER"
	}
	return cmp.Or(cl.lastDial, cl.dialStatusVar)
}

// channels lists the call's channels and when the last one went.
func (f *facts) channels(st *CallStatus) {
	st.Channels = make([]string, 0, len(f.chans))
	st.UniqueIDs = make([]string, 0, len(f.chans))
	for _, c := range f.chans {
		st.Channels = append(st.Channels, c.name)
		st.UniqueIDs = append(st.UniqueIDs, c.id)
		st.JoinedLate = st.JoinedLate || c.snapshot
		if t := c.goneAt.Time(); t.After(st.End) {
			st.End = t
		}
	}
	if st.End.IsZero() {
		st.End = f.cl.last
	}
	for _, l := range f.cl.aliases {
		if l != f.cl.linked && !slices.Contains(st.MergedLinkedIDs, l) {
			st.MergedLinkedIDs = append(st.MergedLinkedIDs, l)
		}
	}
}

// legOutcomes: each phone's story, so a ring group or a queue gives one
// status and never one missed call per phone.
func (f *facts) legOutcomes(st *CallStatus) {
	for _, l := range f.legList {
		lg := Leg{Channel: l.peer.name, Endpoint: endpoint(l.peer.name), Queue: l.queue, DialStatus: l.status,
			RingStart: timePtr(l.begin.Time()), RingEnd: timePtr(l.end.Time())}
		switch {
		case l.answered():
			lg.Outcome = "answered"
			lg.Answer = timePtr(l.answeredAt())
		case f.answered != nil && (l.status == "CANCEL" || l.status == ""):
			lg.Outcome = "answered_elsewhere"
		case l.status == "":
			lg.Outcome = "rang"
		default:
			lg.Outcome = strings.ToLower(l.status)
		}
		st.Legs = append(st.Legs, lg)
	}
}

// visitRecords: each stay in a queue, waited until an agent connected or
// the caller left.
func (f *facts) visitRecords(st *CallStatus) {
	for _, v := range f.visits {
		qv := QueueVisit{Queue: v.queue, Join: v.start, Position: v.position, QueueStatus: v.status, Abandoned: v.abandon, Leave: timePtr(v.leave)}
		end := cmp.Or(v.connect, v.leave, v.caller.goneAt.Time(), st.End)
		if v.agent != nil {
			qv.Agent = v.agent.name
		}
		qv.WaitSeconds = seconds(end.Sub(v.start))
		f.serviceLevel(&qv, v)
		st.WaitSeconds += qv.WaitSeconds
		st.Queues = append(st.Queues, qv)
	}
	if v := f.lastVisit(); v != nil {
		st.QueueStatus = v.status
	}
}

// serviceLevel measures a visit against its queue's service level.
func (f *facts) serviceLevel(qv *QueueVisit, v *visit) {
	sl := f.cfg.serviceLevel(v.queue)
	wait := time.Duration(qv.WaitSeconds * float64(time.Second))
	abandoned := v.agent == nil && !contains(f.cfg.TimeoutExits, v.status)
	qv.ServiceLevel = sl.Seconds()
	qv.AnsweredWithinSL = v.agent != nil && wait <= sl
	qv.AbandonedWithinSL = abandoned && wait <= sl
	qv.ShortAbandon = abandoned && wait <= f.cfg.ShortAbandon
}

// findIVR: the PBX answered an inbound caller before ringing any phone (an
// IVR or an announcement), never an answer by itself.
func (f *facts) findIVR() {
	if f.dir != DirInbound {
		return
	}
	first := f.cl.firstDial
	f.ivr = slices.ContainsFunc(f.chans, func(c *channel) bool {
		return !f.peers[c] && !c.up.IsZero() && (first.IsZero() || c.up < first)
	})
}

// parties: who called whom, who answered, who hung up first.
func (f *facts) parties(st *CallStatus) {
	o := f.origin
	st.From = Party{Number: o.callerNum, Name: o.callerName, Channel: o.name, Endpoint: endpoint(o.name)}
	st.To = Party{Number: f.dirExten}
	if r := f.reached; f.dir != DirInbound && r != nil && r.dialed != "" {
		st.To.Number = r.dialed // the number as sent, without the dialplan's prefix
	}
	if st.To.Number == "" && len(f.legList) > 0 {
		st.To.Channel = f.legList[0].peer.name
		st.To.Endpoint = endpoint(st.To.Channel)
	}
	if a := f.answered; a != nil {
		st.Agent = channelParty(a.peer)
		st.Answer = timePtr(a.answeredAt())
	}
	st.Hangup = Hangup{Cause: int(o.cause), Text: o.causeTxt, By: f.hangupBy()}
}

// hangupBy: who ended the conversation: the first to hang up, after the
// call's last answer, of the caller's side and the legs that had answered.
// A leg the dial canceled or that rang out, and a transferer leaving its
// call to others, ended nothing; a busy callee refused the call.
func (f *facts) hangupBy() string {
	first := f.firstToHangUp()
	switch {
	case f.answered == nil && f.cl.lastDial == "BUSY":
		return "callee" // refused: a caller who gave up first ends the dial CANCEL
	case first == nil:
		return ""
	case f.peers[first] && f.cl.vmdrop != "":
		return "system" // the PBX hangs up the answering machine after the drop
	case f.peers[first]:
		return "callee"
	case first.hungByPBX:
		return "system" // the dialplan ended it: Hangup(), a ring or queue timeout
	}
	return "caller"
}

// transferSettle: hangups this soon after a transfer are its cleanup.
const transferSettle = 500 * time.Millisecond

// firstToHangUp: the first channel, after the call's last answer, of the
// caller's side or of a leg that answered, whose hangup was no transfer.
func (f *facts) firstToHangUp() *channel {
	var lastAnswer stamp
	for _, l := range f.legList {
		if s := stampOf(l.answeredAt()); l.answered() && s > lastAnswer {
			lastAnswer = s
		}
	}
	var left []string // Local bases of transferers (rare: no map)
	for _, c := range f.chans {
		if base, ok := localBase(c.name); ok && c.transferer {
			left = append(left, base)
		}
	}
	// The transferers' channels go at the transfer (an attended one has
	// two, and the event names only one as such).
	settled := max(lastAnswer, f.cl.transferAt)
	if f.cl.transferAt != 0 {
		settled += stamp(transferSettle)
	}
	var first *channel
	for _, c := range f.chans {
		base, _ := localBase(c.name)
		switch {
		case c.hungAt.IsZero() || c.hungAt < settled || c.transferer || (base != "" && slices.Contains(left, base)):
		case f.peers[c] && c.up.IsZero():
		case first == nil || c.hungAt < first.hungAt || (c.hungAt == first.hungAt && c.hungOrder < first.hungOrder):
			first = c
		}
	}
	return first
}

// timings: ringing from the first dial to the answer (or the last dial's
// end), talking from the answer to the end.
func (f *facts) timings(st *CallStatus) {
	cl := f.cl
	if !cl.firstDial.IsZero() {
		ringEnd := st.End
		switch {
		case f.answered != nil && !f.answered.answeredAt().IsZero():
			ringEnd = f.answered.answeredAt()
		case !cl.lastDialAt.IsZero():
			ringEnd = cl.lastDialAt.Time()
		}
		st.RingSeconds = seconds(ringEnd.Sub(cl.firstDial.Time()))
	}
	if st.Answer != nil {
		st.TalkSeconds = seconds(st.End.Sub(*st.Answer))
	}
}

func channelParty(c *channel) *Party {
	p := &Party{Number: resource(c.name), Channel: c.name, Endpoint: endpoint(c.name)}
	if c.picker && c.callerNum != "" {
		// A pickup: the channel runs the feature code (*8), its caller
		// is the user who took the call.
		p.Number, p.Name = c.callerNum, c.callerName
	}
	return p
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// answered: the dial said ANSWER, or (when its end was never reported, as
// when a source dropped mid-call) the dialed channel itself went up.
func (l *leg) answered() bool {
	return !l.answer.IsZero() || l.status == "ANSWER" || (l.status == "" && !l.peer.up.IsZero())
}

func (l *leg) answeredAt() time.Time {
	if l.answer.IsZero() && l.status == "" {
		return l.peer.up.Time()
	}
	return l.answer.Time()
}

// dialNumber: the number in a dial string (5552001@carrier/n, 5552101@trunk,
// trunk/5551234, trunk/sip:5551234@host, 101), "" when there is none.
func dialNumber(ds string) string {
	if i := strings.Index(ds, "sip:"); i >= 0 {
		ds = ds[i+4:]
	}
	if i := strings.IndexByte(ds, '@'); i >= 0 {
		ds = ds[:i]
	}
	if i := strings.LastIndexByte(ds, '/'); i >= 0 {
		ds = ds[i+1:]
	}
	if i := strings.IndexByte(ds, ','); i >= 0 {
		ds = ds[:i]
	}
	return strings.TrimSpace(ds)
}

// endpoint: PJSIP/101-0000002a -> PJSIP/101; Local/101@phones-0000001;1 ->
// Local/101@phones.
func endpoint(name string) string {
	if strings.HasPrefix(name, "Local/") {
		if base, ok := localBase(name); ok {
			name = base
		}
	}
	if i := strings.LastIndexByte(name, '-'); i > 0 && strings.IndexByte(name, '/') < i {
		return name[:i]
	}
	return name
}

// resource: the extension or user part of a channel name (101).
func resource(name string) string {
	ep := endpoint(name)
	if i := strings.IndexByte(ep, '/'); i >= 0 {
		ep = ep[i+1:]
	}
	if i := strings.IndexByte(ep, '@'); i >= 0 {
		ep = ep[:i]
	}
	return ep
}

func seconds(d time.Duration) float64 {
	if d < 0 {
		return 0
	}
	return float64(d.Milliseconds()) / 1000
}
