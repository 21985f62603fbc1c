package mapping

import (
	"strings"
	"time"
)

// Apply feeds one event and returns the calls it finished, if any.
func (m *Machine) Apply(e Event) []CallStatus {
	m.stats.Events++
	switch e.Kind {
	case SourceUp:
		m.markUp(e.Source, e.Time)
		return nil
	case SourceDown:
		return m.sourceDown(e)
	case SnapshotDone:
		return m.reconcile(e)
	}
	if e.Kind >= kindCount || e.Kind == KindUnknown {
		m.stats.Ignored++
		return nil
	}
	if (e.Peer.UniqueID != "" || len(e.Linked) > 0) && m.late(&e) {
		m.stats.Late++
		return nil
	}
	// A snapshot is a list, not a connection: it never reports hangups,
	// so it must not be waited for.
	if e.Source != SourceSnapshot {
		m.markUp(e.Source, e.Time)
	}
	if e.Chan.UniqueID == "" {
		return m.onOriginate(&e)
	}
	c := m.channel(e.Chan, e.Source, e.Time)
	if c == nil {
		return nil
	}
	c.call.touch(e.Time)
	m.current = c.call
	out := m.handle(c, &e, refOf(e))
	if len(m.live) <= m.cfg.MaxCalls {
		return out
	}
	return append(m.evict(), out...)
}

// handle applies e to the channel c it is about (found or created, its
// call touched): one handler per group of kinds, each returning the calls
// the event finished. Direct calls, not a table of funcs: e stays on the
// stack.
func (m *Machine) handle(c *channel, e *Event, r ref) []CallStatus {
	switch e.Kind {
	case ChannelCreated, ChannelSnapshot, ChannelState:
		return m.onChannel(c, e, r)
	case HangupRequest, ChannelHangup:
		return m.onHangup(c, e)
	case DialBegin, DialEnd, AgentCalled, AgentConnect, AgentRingNoAnswer, AgentComplete:
		return m.onLeg(c, e, r)
	case BridgeEnter, BridgeLeave:
		return m.onBridge(c, e)
	case QueueJoin, QueueLeave, QueueAbandon:
		return m.onQueue(c, e, r)
	case VarSet:
		return m.onVar(c, e, r)
	case AppRun:
		return m.onApp(c, e, r)
	case UserEvent, PlaybackStarted, PlaybackFinished:
		return m.onMedia(c, e, r)
	case Transfer:
		return m.onTransfer(c, e)
	}
	return nil
}

// late: the event's peer or transfer partners name a channel or a
// linkedid of a finalized call. Asterisk never reuses either, so it is a
// late report (the second source's, or one that outlived a TTL or a
// source gap): it must neither start nor revive a call. Chan is checked
// by channel itself, on its way to finding the channel, so the events
// about one channel cost no extra lookup.
func (m *Machine) late(e *Event) bool {
	if e.Peer.UniqueID != "" && m.isDead(e.Peer) {
		return true
	}
	for _, id := range e.Linked {
		if m.isDead(Channel{UniqueID: id}) {
			return true
		}
	}
	return false
}

// isDead: ch names a finalized channel, or a finalized call's linkedid.
// Live ids are answered by the live maps, so a call in flight costs a
// lookup each and the dead set is read only for unknown ids.
func (m *Machine) isDead(ch Channel) bool {
	if _, live := m.chans[ch.UniqueID]; !live {
		if _, gone := m.dead[ch.UniqueID]; gone {
			return true
		}
	}
	if ch.LinkedID == "" || ch.LinkedID == ch.UniqueID {
		return false
	}
	if _, live := m.byLinked[ch.LinkedID]; live {
		return false
	}
	_, gone := m.dead[ch.LinkedID]
	return gone
}

// onOriginate: a dial with no calling channel only tells that the peer was
// created by the PBX on a user's behalf (click-to-call).
func (m *Machine) onOriginate(e *Event) []CallStatus {
	if (e.Kind != DialBegin && e.Kind != DialEnd) || e.Peer.UniqueID == "" {
		m.stats.Ignored++
		return nil
	}
	p := m.channel(e.Peer, e.Source, e.Time)
	if p == nil {
		return nil
	}
	// Its status is about the user's own phone, not the far end: it
	// explains a call only when nothing else was dialed.
	if e.Kind == DialEnd && e.Status != "ANSWER" && p.call.origStatus == "" {
		p.call.origStatus = keep(e.Status)
		p.call.origRef = refOf(*e)
	}
	p.call.touch(e.Time)
	return m.evict()
}

func (m *Machine) sourceDown(e Event) []CallStatus {
	m.up &^= bit(e.Source)
	m.downAt[e.Source&3] = e.Time
	var out []CallStatus
	for _, c := range m.sortedCalls() {
		c.gap = true
		if m.complete(c) {
			out = append(out, m.finalize(c, e.Time, ""))
		}
	}
	return out
}

// onChannel: a channel was created, listed by a snapshot or changed state.
func (m *Machine) onChannel(c *channel, e *Event, r ref) []CallStatus {
	if e.Kind == ChannelSnapshot {
		cl := c.call
		if c.listedAt.IsZero() || e.Time.After(c.listedAt.Time()) {
			c.listedAt = stampOf(e.Time)
		}
		if len(cl.chans) == 1 || cl.snapshotOnly() {
			c.snapshot = true
		}
		if c.snapApp == "" && e.Name != "" && c.seenBy == bit(SourceSnapshot) {
			m.snapshotApp(c, *e, r)
		}
	}
	if e.Chan.State == "Up" && c.up.IsZero() {
		c.up = stampOf(e.Time)
	}
	if e.Kind != ChannelState {
		m.noteContext(c, e.Chan.Context, e.Chan.Exten)
	}
	return nil
}

// onHangup: a hangup was asked for (who hung up first), or the channel is
// gone, which may finish its call.
func (m *Machine) onHangup(c *channel, e *Event) []CallStatus {
	cl := c.call
	m.noteHangup(c, e)
	if e.Kind == HangupRequest {
		return nil
	}
	if e.Source != SourceSnapshot {
		c.goneBy |= bit(e.Source)
	}
	if !c.gone {
		c.gone = true
		c.goneAt = stampOf(e.Time)
	}
	if c.cause == 0 && e.Cause != 0 {
		c.cause, c.causeTxt = int16(min(max(e.Cause, 0), 1<<15-1)), keep(e.CauseText)
	}
	if m.complete(cl) {
		return []CallStatus{m.finalize(cl, e.Time, "")}
	}
	return nil
}

// onLeg: c dialed, or a queue rang, the peer leg; the leg's story so far.
func (m *Machine) onLeg(c *channel, e *Event, r ref) []CallStatus {
	if e.Peer.UniqueID == "" {
		return nil
	}
	p := m.channel(e.Peer, e.Source, e.Time)
	if p == nil {
		return nil
	}
	// channel may have merged calls: c.call is the survivor.
	cl := m.merge(c.call, p.call)
	p.peer = true
	l := cl.leg(p, c)
	l.noteQueue(c, e.Queue)
	switch e.Kind {
	case DialBegin, AgentCalled:
		if l.dialed == "" && e.Kind == DialBegin {
			l.dialed = keep(dialNumber(e.Value))
		}
		if l.begin.IsZero() || e.Time.Before(l.begin.Time()) {
			l.begin = stampOf(e.Time)
		}
		if cl.firstDial.IsZero() || e.Time.Before(cl.firstDial.Time()) {
			cl.firstDial = stampOf(e.Time)
		}
	case DialEnd:
		l.noteEnd(e.Time)
		if l.status == "" || l.status == "RINGING" || l.status == "PROGRESS" || l.status == "PROCEEDING" {
			l.status = keep(e.Status)
			l.ref = r
		}
		if e.Status == "ANSWER" && l.answer.IsZero() {
			l.answer = stampOf(e.Time)
		}
		cl.noteDialEnd(e, r)
	case AgentConnect:
		l.agent = true
		if l.answer.IsZero() {
			l.answer = stampOf(e.Time)
		}
		if v := c.latestVisit(e.Queue); v != nil && v.agent == nil {
			v.agent, v.connect, v.connectRef = p, e.Time, r
		}
	case AgentRingNoAnswer:
		l.noteEnd(e.Time)
		if l.status == "" {
			l.status = "NOANSWER"
		}
	}
	return nil
}

// onBridge: c entered or left a bridge. Only two-party bridges tie calls
// together; a conference is many calls sharing a room.
func (m *Machine) onBridge(c *channel, e *Event) []CallStatus {
	if e.Kind == BridgeLeave {
		m.leaveBridge(c, e.Bridge)
		return nil
	}
	if e.Bridge == "" || c.bridge == e.Bridge {
		return nil
	}
	// A channel is in one bridge at a time: entering one leaves the last,
	// also when its BridgeLeave was lost in a source gap.
	if c.bridge != "" {
		m.leaveBridge(c, c.bridge)
	}
	members := m.bridges[e.Bridge]
	if len(members) == 1 && e.Count <= 2 {
		m.merge(c.call, members[0].call)
	}
	// Reuse the stored key: assigning to an existing string key replaces
	// it, and e.Bridge would pin its frame.
	id := e.Bridge
	if len(members) > 0 {
		id = members[0].bridge
	} else {
		id = keep(id)
	}
	m.bridges[id] = append(members, c)
	c.bridge = id
	return nil
}

// onQueue: the caller c joined, left or abandoned a queue.
func (m *Machine) onQueue(c *channel, e *Event, r ref) []CallStatus {
	v := c.latestVisit(e.Queue)
	switch e.Kind {
	case QueueJoin:
		if v == nil || v.joined || !v.leave.IsZero() || v.status != "" {
			v = c.call.addVisit(c, keep(e.Queue), e.Time)
		}
		v.joined = true
		v.position = e.Count
	case QueueLeave:
		if v != nil && v.leave.IsZero() {
			v.leave = e.Time
		}
	case QueueAbandon:
		if v != nil && !v.abandon {
			v.abandon, v.abandonRef = true, r
			if v.leave.IsZero() {
				v.leave = e.Time
			}
		}
	}
	return nil
}

// onMedia: a UserEvent or a playback that may be a voicemail drop.
func (m *Machine) onMedia(c *channel, e *Event, r ref) []CallStatus {
	switch {
	case e.Kind == UserEvent && strings.EqualFold(e.Name, m.cfg.VMDropUserEvent):
		c.call.noteVMDrop("userevent:"+e.Name, r)
	case e.Kind != UserEvent && matchAny(m.cfg.VMDropMedia, e.Value):
		c.call.noteVMDrop(keep(e.Value), r)
	}
	return nil
}

// onTransfer ties the transferred channels into one call.
func (m *Machine) onTransfer(c *channel, e *Event) []CallStatus {
	if e.Peer.UniqueID != "" {
		if p := m.channel(e.Peer, e.Source, e.Time); p != nil {
			m.merge(c.call, p.call)
		}
	}
	// The other channels a transfer names join the call if the engine
	// tracks them. One it never saw is not invented from a bare id: no
	// event would ever end it, and the call would wait for its TTL.
	for _, id := range e.Linked {
		if _, known := m.chans[id]; !known {
			continue
		}
		if o := m.channel(Channel{UniqueID: id}, e.Source, e.Time); o != nil {
			m.merge(c.call, o.call)
		}
	}
	c.call.transfer = keep(e.Status)
	if s := stampOf(e.Time); s > c.call.transferAt {
		c.call.transferAt = s
	}
	c.transferer = true
	return nil
}

// featureApps are the PBX applications an internal user reaches with a
// feature code and no dial: such a call is the user's session with the
// PBX (outbound, internal), not a call that failed to connect. A pickup or
// a parked-call retrieval joins the call it takes, and is that call's.
var featureApps = [...]string{"ChanSpy", "ExtenSpy", "ConfBridge", "MeetMe", "VoiceMailMain", "Directory", "DISA", "Pickup", "PickupChan", "ParkedCall"}

// noteFeature remembers the first feature application the caller's side
// of the call ran; app is its lower-cased name.
func (cl *call) noteFeature(c *channel, app string) {
	if cl.feature != 0 || c.peer {
		return
	}
	// A switch, not a loop over featureApps: it runs on every
	// application of every call.
	switch app {
	case "chanspy", "extenspy", "confbridge", "meetme", "voicemailmain", "directory", "disa", "pickup", "pickupchan", "parkedcall":
		for i, f := range featureApps {
			if strings.EqualFold(f, app) {
				cl.feature = uint8(i + 1)
			}
		}
	}
}

func (cl *call) featureApp() string {
	if cl.feature == 0 || int(cl.feature) > len(featureApps) {
		return ""
	}
	return featureApps[cl.feature-1]
}

// noteEnd: the first report that the leg stopped ringing.
func (l *leg) noteEnd(t time.Time) {
	if s := stampOf(t); l.end.IsZero() || (s != 0 && s < l.end) {
		l.end = s
	}
}

// noteQueue: the queue that rang the leg, named by the event or the
// caller's open visit.
func (l *leg) noteQueue(caller *channel, queue string) {
	switch {
	case l.queue != "":
	case queue != "":
		l.queue = keep(queue)
	default:
		if v := caller.openVisit(""); v != nil {
			l.queue = v.queue
		}
	}
}

func (cl *call) noteDialEnd(e *Event, r ref) {
	if cl.lastDial == "" || !e.Time.Before(cl.lastDialAt.Time()) {
		if stampOf(e.Time) == cl.lastDialAt && cl.lastDial != "" {
			return // the same fact from the other source
		}
		cl.lastDial, cl.lastDialAt, cl.lastDialRef = keep(e.Status), stampOf(e.Time), r
	}
}

// onVar: QUEUESTATUS, DIALSTATUS and the direction variable.
func (m *Machine) onVar(c *channel, e *Event, r ref) []CallStatus {
	// VarSet is the commonest event, and most variables are none of
	// these: one switch on the name says so at once.
	switch e.Name {
	case "QUEUESTATUS":
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
	case "DIALSTATUS":
		c.call.dialStatusVar = keep(e.Value)
	case "VM_MESSAGEFILE", "VMSTATUS":
		if vm := c.call.vm; vm != nil {
			vm.left = vm.left || (e.Name == "VM_MESSAGEFILE" && e.Value != "")
			if vm.end.IsZero() {
				vm.end = stampOf(e.Time)
			}
		}
	default:
		if e.Name == m.cfg.DirectionVariable && e.Name != "" {
			c.call.dirVar = keep(strings.ToLower(strings.TrimSpace(e.Value)))
		}
	}
	return nil
}

// onApp: the dialplan runs an application on c.
func (m *Machine) onApp(c *channel, e *Event, r ref) []CallStatus {
	m.noteContext(c, e.Chan.Context, e.Chan.Exten)
	m.appRun(c, *e, r)
	return nil
}

func (m *Machine) appRun(c *channel, e Event, r ref) {
	app := strings.ToLower(e.Name)
	c.call.noteFeature(c, app)
	switch app {
	case "queue":
		n := &c.queueApps[e.Source&3]
		if *n < 255 {
			*n++
		}
		if int(*n) > len(c.visits) {
			q, _, _ := strings.Cut(e.Value, ",")
			c.call.addVisit(c, keep(strings.TrimSpace(q)), e.Time)
		}
	case "voicemail":
		if c.call.vm == nil {
			box, _, _ := strings.Cut(e.Value, ",")
			box, _, _ = strings.Cut(box, "&")
			c.call.vm = &vmVisit{box: keep(box), start: stampOf(e.Time)}
		}
	case "playback", "controlplayback", "background":
		media, _, _ := strings.Cut(e.Value, ",")
		if matchAny(m.cfg.VMDropMedia, media) {
			c.call.noteVMDrop(keep(media), r)
		}
	case "pickup", "pickupchan", "parkedcall":
		c.picker = true
	case "stasis":
		app, _, _ := strings.Cut(e.Value, ",")
		if matchAny(m.cfg.VMDropStasisApps, e.Value) || matchAny(m.cfg.VMDropStasisApps, app) {
			c.call.noteVMDrop(vmdropAppPrefix+keep(app), r)
		}
	}
}
