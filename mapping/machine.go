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
	// live is the set of calls in flight: Active is its size, so the
	// count can never drift from the calls themselves.
	live map[*call]struct{}
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

	last    *channel // the channel of the previous lookup (see channel)
	current *call    // the call being worked on, for Recover
	// clock is the latest time the engine was told by a sweep, a source
	// coming up or a call's end: it dates the memory of finalized
	// channels (not ticked per event: that is the hot path).
	clock    stamp
	up       srcMask // sources connected now
	nextCall uint64
	// upSince and downAt are when each source last came up and went down
	// (event times): a snapshot trusts another source for the gap only
	// if it stayed up throughout.
	upSince, downAt [4]time.Time
	stats           Stats
}

// Stats counts what the engine did with its input.
type Stats struct {
	Events    uint64 // applied
	Ignored   uint64 // no channel, or about a finalized call
	Calls     uint64 // finalized
	Merges    uint64 // calls merged by transfer, dial or bridge
	Evicted   uint64 // finalized early by the MaxCalls cap
	Expired   uint64 // finalized by Sweep (TTL or unconfirmed hangup)
	Orphaned  uint64 // calls finalized with a source gap
	Late      uint64 // dropped: named a channel or linkedid of a finalized call
	Recovered uint64 // panics the engine goroutine recovered from (Recover)
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
	up       stamp
	goneAt   stamp
	hungAt   stamp // the first hangup request or hangup
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
	transferer     bool     // left its call to others by a transfer
	picker         bool     // ran Pickup, PickupChan or ParkedCall: took a call that rang or waited elsewhere
	snapshot       bool     // joined late: first seen in a snapshot
	queueApps      [4]uint8 // per source: Queue applications seen, to dedupe visits
	dirCtx         uint8    // 1+index into inbound_contexts then internal_contexts; 0: none
	hungByPBX      bool     // its first hangup was the PBX's doing (a soft request, or none)
	cause          int16    // Q.850, 0-127
	// order and hungOrder tell equal times apart (creation, and the
	// event that told the hangup): 32 bits keep the record in its size
	// class, and a wrap only reorders ties within one call.
	order, hungOrder uint32
}

type leg struct {
	peer, caller *channel
	queue        string
	dialed       string // the number in the dial string
	begin        stamp
	answer       stamp
	end          stamp // the dial's end (DialEnd, ring-no-answer)
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
	vm            *vmVisit // nil until the call reaches a voicemail box
	vmdrop        string
	vmdropRef     ref
	transfer      string
	transferAt    stamp // the latest transfer

	done bool
	gap  bool
	// feature: 1+index into featureApps of the PBX application the
	// caller's side ran first, 0 for none.
	feature uint8
}

// New returns an engine with the given rules; call Validate first.
func New(cfg Config) *Machine {
	return &Machine{
		cfg:      cfg,
		chans:    make(map[string]*channel),
		byLinked: make(map[string]*call),
		live:     make(map[*call]struct{}),
		bridges:  make(map[string][]*channel),
		locals:   make(map[string]*channel),
		dead:     make(map[string]time.Time),
		contexts: append(slices.Clone(cfg.InboundContexts), cfg.InternalContexts...),
	}
}

func (m *Machine) tick(t time.Time) {
	if s := stampOf(t); s > m.clock {
		m.clock = s
	}
}

// Active is the number of calls in flight.
func (m *Machine) Active() int { return len(m.live) }

// Stats returns the engine's counters.
func (m *Machine) Stats() Stats { return m.stats }

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
	switch {
	case c == nil:
		if c = m.newChannel(ch, t); c == nil {
			return nil
		}
	case ch.LinkedID != "" && !c.call.owns(ch.LinkedID):
		if !m.learnLinked(c, ch.LinkedID) {
			return nil
		}
	}
	c.seenBy |= bit(src)
	c.note(ch, t)
	m.last = c
	return c
}

// newChannel starts tracking a channel in the call its linkedid names, or
// in a new call. A finalized channel is late: nil.
func (m *Machine) newChannel(ch Channel, t time.Time) *channel {
	if _, gone := m.dead[ch.UniqueID]; gone {
		m.stats.Late++
		return nil
	}
	// A channel whose linkedid is unknown (ARI without channelvars) may
	// itself be the first channel of a call another source already named.
	id, key := keep(ch.UniqueID), ch.LinkedID
	if key == "" {
		key = id
	}
	cl := m.callOf(key)
	if cl == nil {
		if _, gone := m.dead[key]; gone && key != id {
			m.stats.Late++ // a new channel naming a finalized call
			return nil
		}
		// Store kept strings only: the event's would pin its frame.
		if key == id {
			key = id
		} else {
			key = keep(key)
		}
		cl = m.newCall(key, t)
	}
	m.nextCall++
	c := &channel{id: id, call: cl, created: stampOf(t), order: uint32(m.nextCall)}
	cl.chans = append(cl.chans, c)
	m.chans[id] = c
	if ch.LinkedID == "" && strings.HasPrefix(ch.Name, "Local/") {
		m.pairLocal(c, ch.Name)
	}
	return c
}

// pairLocal ties the two halves of a Local channel when no linkedid says
// they belong together.
func (m *Machine) pairLocal(c *channel, name string) {
	base, ok := localBase(name)
	if !ok {
		return
	}
	if o := m.locals[base]; o != nil && o != c {
		delete(m.locals, base)
		m.merge(o.call, c.call)
	} else {
		m.locals[keep(base)] = c
	}
}

// learnLinked: a linkedid learnt late (the channel came from a source that
// had none) or one that names another call: join them. A finalized call's
// linkedid is late: false.
func (m *Machine) learnLinked(c *channel, linked string) bool {
	o := m.callOf(linked)
	switch {
	case o == nil:
		if _, gone := m.dead[linked]; gone {
			m.stats.Late++
			return false
		}
		l := keep(linked)
		m.byLinked[l] = c.call
		c.call.aliases = append(c.call.aliases, l)
	case o != c.call:
		m.merge(o, c.call)
	}
	return true
}

// note keeps the first non-empty value of each field an event reports.
func (c *channel) note(ch Channel, t time.Time) {
	if ch.Name != "" && ch.Name != c.name {
		c.name = keep(ch.Name)
	}
	if ch.CallerNum != "" && c.callerNum == "" {
		c.callerNum = keep(ch.CallerNum)
	}
	if ch.CallerName != "" && c.callerName == "" {
		c.callerName = keep(ch.CallerName)
	}
	if s := stampOf(t); s != 0 && s < c.created {
		c.created = s
	}
}

// callOf is the live call that linked names: the one keyed by it, or the
// call of the channel whose uniqueid it is (a linkedid is the uniqueid of
// the call's first channel).
func (m *Machine) callOf(linked string) *call {
	if cl := m.byLinked[linked]; cl != nil {
		return cl
	}
	if c := m.chans[linked]; c != nil {
		return c.call
	}
	return nil
}

func (m *Machine) newCall(linked string, t time.Time) *call {
	m.nextCall++
	cl := &call{id: m.nextCall, linked: linked, start: t, last: t}
	m.byLinked[linked] = cl
	m.live[cl] = struct{}{}
	m.order = append(m.order, cl)
	return cl
}

// merge makes a and b one call (transfers, dials across linkedids, Local
// halves, two-party bridges) and returns the survivor: the older call, whose
// linkedid names the merged one.
func (m *Machine) merge(a, b *call) *call {
	if a == b || b.done {
		return a
	}
	if a.done {
		return b
	}
	if b.start.Before(a.start) || (b.start.Equal(a.start) && b.id < a.id) {
		a, b = b, a
	}
	m.stats.Merges++
	for _, c := range b.chans {
		c.call = a
	}
	for _, l := range append(b.aliases, b.linked) {
		m.byLinked[l] = a
	}
	a.absorb(b)
	m.retire(b)
	return a
}

// absorb takes b's channels, legs, visits and facts into a: the earliest
// or first known of each.
func (a *call) absorb(b *call) {
	a.chans = append(a.chans, b.chans...)
	a.legs = append(a.legs, b.legs...)
	a.visits = append(a.visits, b.visits...)
	a.aliases = append(append(a.aliases, b.aliases...), b.linked)
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
	if a.vm == nil {
		a.vm = b.vm
	}
	a.gap = a.gap || b.gap
	if a.feature == 0 {
		a.feature = b.feature
	}
	if b.transferAt > a.transferAt {
		a.transferAt = b.transferAt
	}
	if a.transfer == "" {
		a.transfer = b.transfer
	}
}

// retire takes a call out of flight: finalized, or merged into another.
func (m *Machine) retire(cl *call) {
	cl.done = true
	delete(m.live, cl)
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
	m.tick(now)
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
	if len(m.live) <= m.cfg.MaxCalls {
		return nil
	}
	var out []CallStatus
	for len(m.live) > m.cfg.MaxCalls && len(m.order) > 0 {
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
	out := make([]*call, 0, len(m.live))
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

// noteHangup: the first time c was asked to hang up, or went, and in
// which event: the two sources stamp with different precision, so equal
// times are told apart by arrival.
func (m *Machine) noteHangup(c *channel, e *Event) {
	if s := stampOf(e.Time); c.hungAt.IsZero() || (s != 0 && s < c.hungAt) {
		c.hungAt, c.hungOrder = s, uint32(m.stats.Events)
		c.hungByPBX = e.Kind == ChannelHangup || e.Status == "soft"
	}
}

// vmVisit is the caller's stay in a voicemail box: kept apart, as few
// calls reach one.
type vmVisit struct {
	box        string
	start, end stamp
	left       bool // a message was saved (VM_MESSAGEFILE)
}

// vmdropAppPrefix marks a drop inferred from the Stasis application that
// plays it, not seen played.
const vmdropAppPrefix = "stasis:"

// noteVMDrop: the first media seen played as a drop wins; a drop inferred
// from the application gives way to the playback that confirms it.
func (cl *call) noteVMDrop(media string, r ref) {
	if cl.vmdrop == "" || (strings.HasPrefix(cl.vmdrop, vmdropAppPrefix) && !strings.HasPrefix(media, vmdropAppPrefix)) {
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
		m.tick(t)
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
