package mapping

import (
	"slices"
	"strings"
	"time"
)

// Machine is the status engine: events in, final statuses out. It is a pure,
// deterministic state machine; one goroutine owns it and supplies the time.
type Machine struct {
	cfg Config

	chans    map[string]*channel // by unique id
	byLinked map[string]*call    // by linkedid (and aliases after merges)
	active   int                 // calls in flight
	// contexts is inbound_contexts then internal_contexts: a channel
	// remembers its first known context by index.
	contexts []string
	bridges  map[string][]*channel
	// locals finds the other half of a Local channel by name when no
	// linkedid is known (ARI without channelvars).
	locals map[string]*channel
	// dead remembers channels of finalized calls: the second source's
	// late report of a hangup must not open a new call.
	dead map[string]time.Time
	// deadOrder lists dead's keys oldest first, so forgetting them costs
	// nothing per sweep and a flood cannot grow dead past MaxCalls.
	deadOrder []string
	// order lists calls by creation for the MaxCalls cap (lazily pruned).
	order []*call

	last     *channel // the channel of the previous lookup (see channel)
	up       srcMask  // sources connected now
	nextCall uint64
	// upSince and downAt are when each source last came up and went down
	// (event times): a snapshot trusts another source for the gap only
	// if it stayed up throughout.
	upSince, downAt [4]time.Time
	stats           Stats
}

// Stats counts what the engine did with its input.
type Stats struct {
	Events   uint64 // applied
	Ignored  uint64 // no channel, or about a finalized call
	Calls    uint64 // finalized
	Merges   uint64 // calls merged by transfer, dial or bridge
	Evicted  uint64 // finalized early by the MaxCalls cap
	Expired  uint64 // finalized by Sweep (TTL or unconfirmed hangup)
	Orphaned uint64 // calls finalized with a source gap
}

type srcMask uint8

func bit(s Source) srcMask { return 1 << s }

// ref names an event for a status's evidence: its source, kind and
// sequence number packed in one word (the engine keeps several per call).
type ref uint64

func refOf(e Event) ref { return ref(e.Seq<<16 | uint64(e.Source)<<8 | uint64(e.Kind)) }

func (r ref) src() Source { return Source(r >> 8) }
func (r ref) kind() Kind  { return Kind(r) }
func (r ref) seq() uint64 { return uint64(r >> 16) }

type channel struct {
	id, name string
	call     *call

	// Times are stamps (Unix nanoseconds): a third of a time.Time, and
	// the engine keeps several per live channel.
	created  stamp
	order    uint64 // creation order, for determinism on equal times
	up       stamp
	goneAt   stamp
	causeTxt string

	callerNum, callerName string
	// dirCtx is the first dialplan context of this channel found in the
	// inbound or internal lists; dirExten the extension dialed there.
	dirExten string

	listedAt stamp  // when the latest snapshot listing this channel alive was taken
	snapApp  string // the application a snapshot first saw it run (joined late)
	bridge   string
	visits   []*visit

	// The small fields sit together: a channel record is kept per live
	// channel, and padding between them cost a size class.
	gone           bool
	seenBy, goneBy srcMask
	peer           bool     // dialed by a channel of the call, or a queue member leg
	snapshot       bool     // joined late: first seen in a snapshot
	queueApps      [4]uint8 // per source: Queue applications seen, to dedupe visits
	dirCtx         uint8    // 1+index into inbound_contexts then internal_contexts; 0: none
	cause          int32
}

type leg struct {
	peer, caller *channel
	queue        string
	begin        stamp
	answer       stamp
	status       string
	agent        bool // AgentConnect seen
	ref          ref
}

type visit struct {
	caller     *channel
	queue      string
	start      time.Time // Queue() ran or the caller joined
	joined     bool
	leave      time.Time
	position   int
	status     string // QUEUESTATUS
	abandon    bool   // QueueCallerAbandon seen (also sent on timeouts!)
	agent      *channel
	connect    time.Time
	statusRef  ref
	abandonRef ref
	connectRef ref
}

type call struct {
	id      uint64
	linked  string
	aliases []string
	chans   []*channel
	legs    []*leg
	visits  []*visit
	start   time.Time
	last    time.Time

	firstDial     stamp
	lastDial      string
	lastDialAt    stamp
	lastDialRef   ref
	origStatus    string // the first Originate that did not answer (click-to-call)
	origRef       ref
	dialStatusVar string
	dirVar        string
	vmdrop        string
	vmdropRef     ref
	transfer      string
	firstHangup   *channel
	firstHangupAt stamp

	done      bool
	voicemail bool
	gap       bool
}

// New returns an engine with the given rules; call Validate first.
func New(cfg Config) *Machine {
	return &Machine{
		cfg:      cfg,
		chans:    make(map[string]*channel),
		byLinked: make(map[string]*call),
		bridges:  make(map[string][]*channel),
		locals:   make(map[string]*channel),
		dead:     make(map[string]time.Time),
		contexts: append(slices.Clone(cfg.InboundContexts), cfg.InternalContexts...),
	}
}

// Active is the number of calls in flight.
func (m *Machine) Active() int { return m.active }

// Stats returns the engine's counters.
func (m *Machine) Stats() Stats { return m.stats }

// Apply feeds one event and returns the calls it finished, if any.
func (m *Machine) Apply(e Event) []CallStatus {
	m.stats.Events++
	b := bit(e.Source)
	switch e.Kind {
	case SourceUp:
		m.markUp(e.Source, e.Time)
		return nil
	case SourceDown:
		m.up &^= b
		m.downAt[e.Source&3] = e.Time
		var out []CallStatus
		for _, c := range m.sortedCalls() {
			c.gap = true
			if m.complete(c) {
				out = append(out, m.finalize(c, e.Time, ""))
			}
		}
		return out
	case SnapshotDone:
		return m.reconcile(e)
	case KindUnknown:
		m.stats.Ignored++
		return nil
	}
	// A snapshot is a list, not a connection: it never reports hangups,
	// so it must not be waited for.
	if e.Source == SourceSnapshot {
		b = 0
	} else {
		m.markUp(e.Source, e.Time)
	}
	r := refOf(e)

	// Originate dials have no calling channel: they only tell that the
	// peer was created by the PBX on a user's behalf (click-to-call).
	if e.Chan.UniqueID == "" {
		if (e.Kind == DialBegin || e.Kind == DialEnd) && e.Peer.UniqueID != "" {
			p := m.channel(e.Peer, e.Source, e.Time)
			if p == nil {
				return nil
			}
			// Its status is about the user's own phone, not the far
			// end: it explains a call only when nothing else was dialed.
			if e.Kind == DialEnd && e.Status != "ANSWER" && p.call.origStatus == "" {
				p.call.origStatus = keep(e.Status)
				p.call.origRef = r
			}
			p.call.touch(e.Time)
			return m.evict()
		}
		m.stats.Ignored++
		return nil
	}
	c := m.channel(e.Chan, e.Source, e.Time)
	if c == nil {
		return nil
	}
	cl := c.call
	cl.touch(e.Time)

	switch e.Kind {
	case ChannelCreated, ChannelSnapshot:
		if e.Kind == ChannelSnapshot {
			if e.Time.After(c.listedAt.Time()) || c.listedAt.IsZero() {
				c.listedAt = stampOf(e.Time)
			}
			if len(cl.chans) == 1 || cl.snapshotOnly() {
				c.snapshot = true
			}
			if c.snapApp == "" && e.Name != "" && c.seenBy == bit(SourceSnapshot) {
				m.snapshotApp(c, e, r)
			}
		}
		if e.Chan.State == "Up" && c.up.IsZero() {
			c.up = stampOf(e.Time)
		}
		m.noteContext(c, e.Chan.Context, e.Chan.Exten)
	case ChannelState:
		if e.Chan.State == "Up" && c.up.IsZero() {
			c.up = stampOf(e.Time)
		}
	case HangupRequest:
		cl.noteHangup(c, e.Time)
	case ChannelHangup:
		c.goneBy |= b
		if !c.gone {
			c.gone = true
			c.goneAt = stampOf(e.Time)
		}
		if c.cause == 0 && e.Cause != 0 {
			c.cause, c.causeTxt = int32(e.Cause), keep(e.CauseText)
		}
		cl.noteHangup(c, e.Time)
		if m.complete(cl) {
			return append(m.evict(), m.finalize(cl, e.Time, ""))
		}
		return nil
	case DialBegin, DialEnd, AgentCalled, AgentConnect, AgentRingNoAnswer, AgentComplete:
		if e.Peer.UniqueID == "" {
			break
		}
		p := m.channel(e.Peer, e.Source, e.Time)
		if p == nil {
			break
		}
		cl = m.merge(c.call, p.call)
		p.peer = true
		l := cl.leg(p, c)
		if e.Queue != "" && l.queue == "" {
			l.queue = keep(e.Queue)
		}
		if l.queue == "" {
			if v := c.openVisit(""); v != nil {
				l.queue = v.queue
			}
		}
		switch e.Kind {
		case DialBegin, AgentCalled:
			if l.begin.IsZero() || e.Time.Before(l.begin.Time()) {
				l.begin = stampOf(e.Time)
			}
			if cl.firstDial.IsZero() || e.Time.Before(cl.firstDial.Time()) {
				cl.firstDial = stampOf(e.Time)
			}
		case DialEnd:
			if l.status == "" || l.status == "RINGING" || l.status == "PROGRESS" || l.status == "PROCEEDING" {
				l.status = keep(e.Status)
				l.ref = r
			}
			if e.Status == "ANSWER" && l.answer.IsZero() {
				l.answer = stampOf(e.Time)
			}
			m.noteDialEnd(cl, e, r)
		case AgentConnect:
			l.agent = true
			if l.answer.IsZero() {
				l.answer = stampOf(e.Time)
			}
			if v := c.latestVisit(e.Queue); v != nil && v.agent == nil {
				v.agent, v.connect, v.connectRef = p, e.Time, r
			}
		case AgentRingNoAnswer:
			if l.status == "" {
				l.status = "NOANSWER"
			}
		}
	case BridgeEnter:
		members := m.bridges[e.Bridge]
		if !slices.Contains(members, c) {
			// Only two-party bridges tie calls together; a conference
			// is many calls sharing a room.
			if len(members) == 1 && e.Count <= 2 {
				cl = m.merge(cl, members[0].call)
			}
			// Reuse the stored key: assigning to an existing string key
			// replaces it, and e.Bridge would pin its frame.
			id := e.Bridge
			if len(members) > 0 && members[0].bridge == id {
				id = members[0].bridge
			} else {
				id = keep(id)
			}
			m.bridges[id] = append(members, c)
			c.bridge = id
		}
	case BridgeLeave:
		m.leaveBridge(c, e.Bridge)
	case QueueJoin:
		v := c.latestVisit(e.Queue)
		if v == nil || v.joined || !v.leave.IsZero() || v.status != "" {
			v = cl.addVisit(c, keep(e.Queue), e.Time)
		}
		v.joined = true
		v.position = e.Count
	case QueueLeave:
		if v := c.latestVisit(e.Queue); v != nil && v.leave.IsZero() {
			v.leave = e.Time
		}
	case QueueAbandon:
		if v := c.latestVisit(e.Queue); v != nil && !v.abandon {
			v.abandon, v.abandonRef = true, r
			if v.leave.IsZero() {
				v.leave = e.Time
			}
		}
	case VarSet:
		m.varSet(c, e, r)
	case AppRun:
		m.noteContext(c, e.Chan.Context, e.Chan.Exten)
		m.appRun(c, e, r)
	case UserEvent:
		if strings.EqualFold(e.Name, m.cfg.VMDropUserEvent) {
			cl.noteVMDrop("userevent:"+e.Name, r)
		}
	case PlaybackStarted, PlaybackFinished:
		if matchAny(m.cfg.VMDropMedia, e.Value) {
			cl.noteVMDrop(keep(e.Value), r)
		}
	case Transfer:
		cl.transfer = keep(e.Status)
		if e.Peer.UniqueID != "" {
			if p := m.channel(e.Peer, e.Source, e.Time); p != nil {
				cl = m.merge(cl, p.call)
			}
		}
		for _, id := range e.Linked {
			if o := m.channel(Channel{UniqueID: id}, e.Source, e.Time); o != nil {
				cl = m.merge(cl, o.call)
			}
		}
		cl.transfer = keep(e.Status)
	}
	return m.evict()
}

func (m *Machine) noteDialEnd(cl *call, e Event, r ref) {
	if cl.lastDial == "" || !e.Time.Before(cl.lastDialAt.Time()) {
		if stampOf(e.Time) == cl.lastDialAt && cl.lastDial != "" {
			return // the same fact from the other source
		}
		cl.lastDial, cl.lastDialAt, cl.lastDialRef = keep(e.Status), stampOf(e.Time), r
	}
}

func (m *Machine) varSet(c *channel, e Event, r ref) {
	switch {
	case e.Name == "QUEUESTATUS":
		// The value belongs to the Queue() run this source saw last: a
		// slower source must not pin it on the next queue (timestamps of
		// the two sources differ in precision, so time cannot tell).
		var v *visit
		if n := int(c.queueApps[e.Source&3]); n > 0 && n <= len(c.visits) {
			v = c.visits[n-1]
		} else {
			for i := len(c.visits) - 1; i >= 0 && v == nil; i-- {
				if !c.visits[i].start.After(e.Time) {
					v = c.visits[i]
				}
			}
		}
		if v != nil && v.status == "" {
			v.status, v.statusRef = keep(e.Value), r
			if v.leave.IsZero() {
				v.leave = e.Time
			}
		}
	case e.Name == "DIALSTATUS":
		c.call.dialStatusVar = keep(e.Value)
	case e.Name == m.cfg.DirectionVariable && m.cfg.DirectionVariable != "":
		c.call.dirVar = keep(strings.ToLower(strings.TrimSpace(e.Value)))
	}
}

func (m *Machine) appRun(c *channel, e Event, r ref) {
	switch strings.ToLower(e.Name) {
	case "queue":
		n := &c.queueApps[e.Source&3]
		*n++
		if int(*n) > len(c.visits) {
			q, _, _ := strings.Cut(e.Value, ",")
			c.call.addVisit(c, keep(strings.TrimSpace(q)), e.Time)
		}
	case "voicemail":
		c.call.voicemail = true
	case "playback", "controlplayback", "background":
		media, _, _ := strings.Cut(e.Value, ",")
		if matchAny(m.cfg.VMDropMedia, media) {
			c.call.noteVMDrop(keep(media), r)
		}
	}
}

func (m *Machine) noteContext(c *channel, ctx, exten string) {
	if c.dirCtx != 0 || ctx == "" {
		return
	}
	for i, l := range m.contexts {
		if l == ctx {
			c.dirCtx, c.dirExten = uint8(i+1), keep(exten)
			return
		}
	}
}

// channel finds or creates the channel an event is about and keeps its call
// membership right: a linkedid seen for the first time joins (or merges) the
// call that owns it. It returns nil for channels of finalized calls.
func (m *Machine) channel(ch Channel, src Source, t time.Time) *channel {
	// Events come in bursts about one channel (Newexten, VarSet...): the
	// last channel found answers them without hashing the id. A finalized
	// call's channels left m.chans, so they are looked up again.
	c := m.last
	if c == nil || c.call.done || c.id != ch.UniqueID {
		c = m.chans[ch.UniqueID]
	}
	if c == nil {
		if _, gone := m.dead[ch.UniqueID]; gone {
			m.stats.Ignored++
			return nil
		}
		var cl *call
		id, linkedid := keep(ch.UniqueID), ""
		if ch.LinkedID != "" {
			cl = m.byLinked[ch.LinkedID]
			switch {
			case ch.LinkedID == ch.UniqueID:
				linkedid = id
			case cl != nil && cl.linked == ch.LinkedID:
				linkedid = cl.linked
			default:
				linkedid = keep(ch.LinkedID)
			}
		}
		if cl == nil {
			linked := linkedid
			if linked == "" {
				linked = id
			}
			cl = m.newCall(linked, t)
		}
		m.nextCall++
		c = &channel{id: id, call: cl, created: stampOf(t), order: m.nextCall}
		cl.chans = append(cl.chans, c)
		m.chans[id] = c
		if ch.LinkedID == "" && strings.HasPrefix(ch.Name, "Local/") {
			if base, ok := localBase(ch.Name); ok {
				if o := m.locals[base]; o != nil && o != c {
					delete(m.locals, base)
					m.merge(o.call, c.call)
				} else {
					m.locals[keep(base)] = c
				}
			}
		}
	} else if ch.LinkedID != "" && !c.call.owns(ch.LinkedID) {
		// A linkedid learnt late (the channel came from a source that
		// had none) or one that names another call: join them.
		if o := m.byLinked[ch.LinkedID]; o == nil {
			l := keep(ch.LinkedID)
			m.byLinked[l] = c.call
			c.call.aliases = append(c.call.aliases, l)
		} else if o != c.call {
			m.merge(o, c.call)
		}
	}
	c.seenBy |= bit(src)
	if ch.Name != "" && ch.Name != c.name {
		c.name = keep(ch.Name)
	}
	if ch.CallerNum != "" && c.callerNum == "" {
		c.callerNum = keep(ch.CallerNum)
	}
	if ch.CallerName != "" && c.callerName == "" {
		c.callerName = keep(ch.CallerName)
	}
	if !t.IsZero() && c.created.Time().After(t) {
		c.created = stampOf(t)
	}
	m.last = c
	return c
}

func (m *Machine) newCall(linked string, t time.Time) *call {
	m.nextCall++
	cl := &call{id: m.nextCall, linked: linked, start: t, last: t}
	m.byLinked[linked] = cl
	m.active++
	m.order = append(m.order, cl)
	return cl
}

// merge makes a and b one call (transfers, dials across linkedids, Local
// halves, two-party bridges) and returns the survivor: the older call, whose
// linkedid names the merged one.
func (m *Machine) merge(a, b *call) *call {
	if a == b {
		return a
	}
	if b.start.Before(a.start) || (b.start.Equal(a.start) && b.id < a.id) {
		a, b = b, a
	}
	m.stats.Merges++
	for _, c := range b.chans {
		c.call = a
	}
	a.chans = append(a.chans, b.chans...)
	a.legs = append(a.legs, b.legs...)
	a.visits = append(a.visits, b.visits...)
	for _, l := range append(b.aliases, b.linked) {
		m.byLinked[l] = a
		a.aliases = append(a.aliases, l)
	}
	if b.last.After(a.last) {
		a.last = b.last
	}
	if a.firstDial.IsZero() || (!b.firstDial.IsZero() && b.firstDial < a.firstDial) {
		a.firstDial = b.firstDial
	}
	if b.lastDial != "" && (a.lastDial == "" || b.lastDialAt > a.lastDialAt) {
		a.lastDial, a.lastDialAt, a.lastDialRef = b.lastDial, b.lastDialAt, b.lastDialRef
	}
	if a.origStatus == "" {
		a.origStatus, a.origRef = b.origStatus, b.origRef
	}
	if a.dialStatusVar == "" {
		a.dialStatusVar = b.dialStatusVar
	}
	if a.dirVar == "" {
		a.dirVar = b.dirVar
	}
	if a.vmdrop == "" {
		a.vmdrop, a.vmdropRef = b.vmdrop, b.vmdropRef
	}
	a.voicemail = a.voicemail || b.voicemail
	a.gap = a.gap || b.gap
	if a.transfer == "" {
		a.transfer = b.transfer
	}
	if a.firstHangup == nil || (b.firstHangup != nil && b.firstHangupAt < a.firstHangupAt) {
		a.firstHangup, a.firstHangupAt = b.firstHangup, b.firstHangupAt
	}
	b.done = true
	m.active--
	return a
}

// complete: every channel is gone, and every connected source that reported
// a channel has also reported its end, so the second source's view of the
// same call cannot arrive after the status went out.
func (m *Machine) complete(cl *call) bool {
	if cl.done || len(cl.chans) == 0 {
		return false
	}
	for _, c := range cl.chans {
		if !c.gone || (c.seenBy&m.up)&^c.goneBy != 0 {
			return false
		}
	}
	return true
}

// Sweep finalizes calls that can no longer finish by themselves: no event for
// CallTTL, or hung up on one source and not confirmed by the other within
// ConfirmGrace. It also forgets finalized channels after a while.
func (m *Machine) Sweep(now time.Time) []CallStatus {
	var out []CallStatus
	for _, cl := range m.sortedCalls() {
		switch {
		case now.Sub(cl.last) >= m.cfg.CallTTL:
			m.stats.Expired++
			out = append(out, m.finalize(cl, now, "ttl"))
		case now.Sub(cl.last) >= m.cfg.ConfirmGrace && allGone(cl):
			m.stats.Expired++
			out = append(out, m.finalize(cl, cl.last, ""))
		}
	}
	keep := m.cfg.ConfirmGrace * 4
	if keep < 2*time.Minute {
		keep = 2 * time.Minute
	}
	m.forget(now, keep)
	m.compactOrder()
	return out
}

func allGone(cl *call) bool {
	for _, c := range cl.chans {
		if !c.gone {
			return false
		}
	}
	return len(cl.chans) > 0
}

// evict enforces MaxCalls by finalizing the oldest calls as incomplete.
func (m *Machine) evict() []CallStatus {
	if m.active <= m.cfg.MaxCalls {
		return nil
	}
	var out []CallStatus
	for m.active > m.cfg.MaxCalls && len(m.order) > 0 {
		cl := m.order[0]
		m.order = m.order[1:]
		if cl.done {
			continue
		}
		m.stats.Evicted++
		out = append(out, m.finalize(cl, cl.last, "evicted"))
	}
	return out
}

func (m *Machine) compactOrder() {
	n := 0
	for _, cl := range m.order {
		if !cl.done {
			m.order[n] = cl
			n++
		}
	}
	clear(m.order[n:])
	m.order = m.order[:n]
}

func (m *Machine) sortedCalls() []*call {
	out := make([]*call, 0, m.active)
	for _, cl := range m.order {
		if !cl.done {
			out = append(out, cl)
		}
	}
	return out
}

func (cl *call) touch(t time.Time) {
	if t.After(cl.last) {
		cl.last = t
	}
	if !t.IsZero() && (cl.start.IsZero() || t.Before(cl.start)) {
		cl.start = t
	}
}

func (cl *call) noteHangup(c *channel, t time.Time) {
	if cl.firstHangup == nil || t.Before(cl.firstHangupAt.Time()) {
		cl.firstHangup, cl.firstHangupAt = c, stampOf(t)
	}
}

func (cl *call) noteVMDrop(media string, r ref) {
	if cl.vmdrop == "" {
		cl.vmdrop, cl.vmdropRef = media, r
	}
}

func (cl *call) leg(peer, caller *channel) *leg {
	for _, l := range cl.legs {
		if l.peer == peer {
			return l
		}
	}
	l := &leg{peer: peer, caller: caller}
	cl.legs = append(cl.legs, l)
	return l
}

func (cl *call) addVisit(c *channel, queue string, t time.Time) *visit {
	v := &visit{caller: c, queue: queue, start: t}
	c.visits = append(c.visits, v)
	cl.visits = append(cl.visits, v)
	return v
}

// latestVisit is the caller's most recent stay in queue ("" for any queue).
func (c *channel) latestVisit(queue string) *visit {
	for i := len(c.visits) - 1; i >= 0; i-- {
		if queue == "" || c.visits[i].queue == queue {
			return c.visits[i]
		}
	}
	return nil
}

func (c *channel) openVisit(queue string) *visit {
	v := c.latestVisit(queue)
	if v == nil || !v.leave.IsZero() || v.status != "" {
		return nil
	}
	return v
}

// localBase strips the ;1/;2 suffix that tells the halves of a Local channel
// apart: Local/100@agents-0000001a;2 -> Local/100@agents-0000001a.
func localBase(name string) (string, bool) {
	if n := len(name); n > 2 && name[n-2] == ';' && (name[n-1] == '1' || name[n-1] == '2') {
		return name[:n-2], true
	}
	return "", false
}

func (m *Machine) leaveBridge(c *channel, bridge string) {
	if c.bridge == bridge {
		bridge = c.bridge // the stored key, not the event's copy
	}
	members := m.bridges[bridge]
	for i, o := range members {
		if o == c {
			members = append(members[:i], members[i+1:]...)
			break
		}
	}
	if len(members) == 0 {
		delete(m.bridges, bridge)
	} else if len(members) < len(m.bridges[bridge]) {
		m.bridges[bridge] = members
	}
	if c.bridge == bridge {
		c.bridge = ""
	}
}

// reconcile ends what a snapshot of source e.Source no longer lists: a
// channel created before the list was taken (e.Time) and not listed by it or
// by a later snapshot died while nobody was listening. Another source that
// stayed up through the gap reported every end itself, so then nothing is
// inferred; one that came back too covers only the channels it saw born
// after its return (it will report their end). Channels the snapshot
// missed for being newer than it are left alone.
func (m *Machine) reconcile(e Event) []CallStatus {
	src := e.Source & 3
	gapStart := m.downAt[src]
	if gapStart.IsZero() {
		gapStart = e.Time // never went down: the gap is the daemon's start
	}
	var back srcMask // other sources up now, but not through the whole gap
	for o := Source(0); o < 4; o++ {
		if o == src || m.up&bit(o) == 0 {
			continue
		}
		if !m.upSince[o].After(gapStart) {
			return nil
		}
		back |= bit(o)
	}
	var out []CallStatus
	for _, cl := range m.sortedCalls() {
		for _, c := range cl.chans {
			if c.gone || !c.listedAt.Time().Before(e.Time) || c.created.Time().After(e.Time) {
				continue
			}
			if m.bornWhileUp(c, back) {
				continue
			}
			c.gone, c.goneAt = true, stampOf(e.Time)
			c.goneBy = c.seenBy
			cl.gap = true
		}
		if cl.gap && allGone(cl) {
			out = append(out, m.finalize(cl, e.Time, "snapshot"))
		}
	}
	return out
}

// bornWhileUp: one of the sources in mask reported c and was already up
// when c was created, so it saw c live and will report its end.
func (m *Machine) bornWhileUp(c *channel, mask srcMask) bool {
	for o := Source(0); o < 4; o++ {
		if mask&bit(o) != 0 && c.seenBy&bit(o) != 0 && !c.created.Time().Before(m.upSince[o]) {
			return true
		}
	}
	return false
}

// markUp notes that src is connected, since t when it was not.
func (m *Machine) markUp(src Source, t time.Time) {
	if m.up&bit(src) == 0 {
		m.up |= bit(src)
		m.upSince[src&3] = t
	}
}

// snapshotOnly: every channel of the call so far came from a snapshot, so
// the daemon joined the call late.
func (cl *call) snapshotOnly() bool {
	for _, c := range cl.chans {
		if c.listedAt.IsZero() {
			return false
		}
	}
	return true
}

// stamp is a time as Unix nanoseconds, 0 for none.
type stamp int64

func stampOf(t time.Time) stamp {
	if t.IsZero() {
		return 0
	}
	return stamp(t.UnixNano())
}

func (s stamp) IsZero() bool { return s == 0 }

// Time gives the time back in UTC, as the translators deliver it.
func (s stamp) Time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(s)).UTC()
}

// owns: linked is the call's linkedid or one merged into it.
func (cl *call) owns(linked string) bool {
	return cl.linked == linked || slices.Contains(cl.aliases, linked)
}
