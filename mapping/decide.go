package mapping

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// finalize turns a finished call into its one status and forgets it. why is
// "" for a normal end, or what cut the call short (ttl, evicted).
func (m *Machine) finalize(cl *call, now time.Time, why string) CallStatus {
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
	stamp := m.clock.Time()
	if stamp.IsZero() {
		stamp = now
	}
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

// side splits a call's channels: the origin side (the caller and the
// dialplan working for it) and the peer side (every dialed leg and the
// other half of a dialed Local channel).
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
		if c.peer {
			mark(c)
		}
	}
	return peers
}

// decide applies the status rules. Rule ids (Evidence.Rule) are stable and
// documented in the README.
func (m *Machine) decide(cl *call) CallStatus {
	m.lateLegs(cl)
	chans := append([]*channel(nil), cl.chans...)
	sort.SliceStable(chans, func(i, j int) bool {
		if chans[i].created != chans[j].created {
			return chans[i].created < chans[j].created
		}
		return chans[i].order < chans[j].order
	})
	peers := peerSide(cl)

	// The origin: the linkedid channel when it is one of ours and not a
	// dialed leg, else the first channel that nobody dialed.
	var origin *channel
	for _, c := range chans {
		if c.id == cl.linked && !peers[c] {
			origin = c
		}
	}
	if origin == nil {
		for _, c := range chans {
			if !peers[c] {
				origin = c
				break
			}
		}
	}
	if origin == nil {
		origin = chans[0]
	}

	st := CallStatus{
		Schema:   SchemaVersion,
		PBX:      m.cfg.PBXID,
		LinkedID: cl.linked,
		CallID:   m.cfg.PBXID + ":" + cl.linked,
		Start:    cl.start,
	}
	for _, c := range chans {
		st.Channels = append(st.Channels, c.name)
		st.UniqueIDs = append(st.UniqueIDs, c.id)
		if c.snapshot {
			st.JoinedLate = true
		}
		if c.goneAt.Time().After(st.End) {
			st.End = c.goneAt.Time()
		}
	}
	if st.End.IsZero() {
		st.End = cl.last
	}

	// Direction: the dialplan's word, then the first origin-side context
	// we know, then a trunk-named origin.
	var dirCtx uint8
	var dirExten string
	for _, c := range chans {
		if !peers[c] && c.dirCtx != 0 {
			dirCtx, dirExten = c.dirCtx, c.dirExten
			break
		}
	}
	nIn := uint8(len(m.cfg.InboundContexts))
	direction, dirRule := "outbound", "default"
	switch {
	case cl.dirVar == "inbound" || cl.dirVar == "outbound" || cl.dirVar == "internal":
		direction, dirRule = cl.dirVar, "variable"
	case dirCtx != 0 && dirCtx <= nIn:
		direction, dirRule = "inbound", "context"
	case dirCtx > nIn:
		direction, dirRule = "outbound", "context"
	case matchAny(m.cfg.TrunkChannels, origin.name):
		direction, dirRule = "inbound", "trunk"
	}
	if direction == "outbound" && dirRule != "variable" && len(cl.legs) > 0 {
		external := false
		for _, l := range cl.legs {
			if matchAny(m.cfg.TrunkChannels, l.peer.name) {
				external = true
			}
		}
		if !external {
			direction = "internal"
		}
	}
	st.Direction = direction
	st.Internal = direction == "internal"

	// Legs, in the order they began; the answered one is the agent.
	legs := append([]*leg(nil), cl.legs...)
	sort.SliceStable(legs, func(i, j int) bool { return legs[i].begin < legs[j].begin })
	var answered *leg
	for _, l := range legs {
		if l.answered() && (answered == nil || l.answeredAt().Before(answered.answeredAt()) || (l.agent && !answered.agent)) {
			answered = l
		}
	}
	// A Local leg's phone is further down: prefer the real channel the
	// other half dialed when it answered too.
	if answered != nil {
		for depth := 0; depth < 4; depth++ {
			base, ok := localBase(answered.peer.name)
			if !ok {
				break
			}
			var next *leg
			for _, l := range legs {
				if l != answered && l.answered() && strings.HasPrefix(l.caller.name, base) {
					next = l
				}
			}
			if next == nil {
				break
			}
			answered = next
		}
	}
	for _, l := range legs {
		lg := Leg{Channel: l.peer.name, Endpoint: endpoint(l.peer.name), Queue: l.queue, DialStatus: l.status}
		if !l.begin.IsZero() {
			t := l.begin.Time()
			lg.RingStart = &t
		}
		switch {
		case l.answered():
			lg.Outcome = "answered"
			t := l.answeredAt()
			if !t.IsZero() {
				lg.Answer = &t
			}
		case answered != nil && (l.status == "CANCEL" || l.status == ""):
			lg.Outcome = "answered_elsewhere"
		case l.status == "":
			lg.Outcome = "rang"
		default:
			lg.Outcome = strings.ToLower(l.status)
		}
		st.Legs = append(st.Legs, lg)
	}

	// Queue visits.
	visits := append([]*visit(nil), cl.visits...)
	sort.SliceStable(visits, func(i, j int) bool { return visits[i].start.Before(visits[j].start) })
	var handledBy *visit
	for _, v := range visits {
		qv := QueueVisit{Queue: v.queue, Join: v.start, Position: v.position, QueueStatus: v.status, Abandoned: v.abandon}
		end := v.leave
		if !v.connect.IsZero() {
			end = v.connect
		}
		if end.IsZero() {
			end = v.caller.goneAt.Time()
		}
		if end.IsZero() {
			end = st.End
		}
		if !v.leave.IsZero() {
			t := v.leave
			qv.Leave = &t
		}
		if v.agent != nil {
			qv.Agent = v.agent.name
			if handledBy == nil {
				handledBy = v
			}
		}
		qv.WaitSeconds = seconds(end.Sub(v.start))
		st.WaitSeconds += qv.WaitSeconds
		st.Queues = append(st.Queues, qv)
	}
	if n := len(visits); n > 0 {
		st.QueueStatus = visits[n-1].status
	}

	st.DialStatus = cl.lastDial
	if st.DialStatus == "" {
		st.DialStatus = cl.dialStatusVar
	}
	st.Voicemail = cl.voicemail
	st.Transferred = cl.transfer
	// The PBX answered an inbound caller before ringing any phone: an IVR
	// or an announcement, never an answer by itself.
	for _, c := range chans {
		if direction == "inbound" && !peers[c] && !c.up.IsZero() && (cl.firstDial.IsZero() || c.up < cl.firstDial) {
			st.IVR = true
			break
		}
	}

	// Parties.
	st.From = Party{Number: origin.callerNum, Name: origin.callerName, Channel: origin.name, Endpoint: endpoint(origin.name)}
	st.To = Party{Number: dirExten}
	if st.To.Number == "" && len(legs) > 0 {
		st.To.Channel = legs[0].peer.name
		st.To.Endpoint = endpoint(legs[0].peer.name)
	}
	if answered != nil {
		st.Agent = &Party{Number: resource(answered.peer.name), Channel: answered.peer.name, Endpoint: endpoint(answered.peer.name)}
		t := answered.answeredAt()
		if !t.IsZero() {
			st.Answer = &t
		}
	}
	st.Hangup = Hangup{Cause: int(origin.cause), Text: origin.causeTxt}
	if cl.firstHangup != nil {
		if peers[cl.firstHangup] {
			st.Hangup.By = "callee"
		} else {
			st.Hangup.By = "caller"
		}
	}
	if !cl.firstDial.IsZero() {
		ringEnd := st.End
		switch {
		case answered != nil && !answered.answeredAt().IsZero():
			ringEnd = answered.answeredAt()
		case !cl.lastDialAt.IsZero():
			ringEnd = cl.lastDialAt.Time()
		}
		st.RingSeconds = seconds(ringEnd.Sub(cl.firstDial.Time()))
	}
	if st.Answer != nil {
		st.TalkSeconds = seconds(st.End.Sub(*st.Answer))
	}

	// The status.
	ev := func(rs ...ref) []string {
		var out []string
		for _, r := range rs {
			if r != 0 {
				out = append(out, r.src().String()+":"+strconv.FormatUint(r.seq(), 10)+":"+r.kind().String())
			}
		}
		return out
	}
	switch {
	case len(visits) > 0:
		st.Category = Callcenter
		last := visits[len(visits)-1]
		switch {
		case handledBy != nil:
			st.Status, st.Reason = Handled, "AGENT_CONNECT"
			st.Evidence = Evidence{Rule: "callcenter.handled.agent_connect", Events: ev(handledBy.connectRef)}
		case answered != nil && answered.queue != "":
			st.Status, st.Reason = Handled, "ANSWER"
			st.Evidence = Evidence{Rule: "callcenter.handled.member_answer", Events: ev(answered.ref)}
		case contains(m.cfg.TimeoutExits, last.status):
			st.Status, st.Reason = Timeout, last.status
			st.Evidence = Evidence{Rule: "callcenter.timeout.queuestatus", Events: ev(last.statusRef, last.abandonRef)}
		case last.status != "":
			st.Status, st.Reason = Abandoned, last.status
			st.Evidence = Evidence{Rule: "callcenter.abandoned.queuestatus", Events: ev(last.statusRef)}
		default:
			st.Status, st.Reason = Abandoned, "ABANDON"
			if !last.abandon {
				st.Reason = "CALLER_LEFT"
			}
			st.Evidence = Evidence{Rule: "callcenter.abandoned.caller_left", Events: ev(last.abandonRef)}
		}
		if handledBy != nil && handledBy.agent != nil && st.Agent == nil {
			st.Agent = &Party{Number: resource(handledBy.agent.name), Channel: handledBy.agent.name, Endpoint: endpoint(handledBy.agent.name)}
		}
	case direction == "inbound":
		st.Category = Inbound
		if answered != nil {
			st.Status, st.Reason = Answered, "ANSWER"
			st.Evidence = Evidence{Rule: "inbound.answered.leg_answer", Events: ev(answered.ref)}
		} else {
			st.Status, st.Reason = Missed, missedReason(cl, st)
			st.Evidence = Evidence{Rule: "inbound.missed.no_leg_answer", Events: ev(cl.lastDialRef, cl.origRef)}
			st.Agent = nil
		}
	default:
		st.Category = Outbound
		// The placing agent is the origin, not who answered.
		far := st.Agent
		st.Agent = &Party{Number: origin.callerNum, Name: origin.callerName, Channel: origin.name, Endpoint: endpoint(origin.name)}
		if far != nil {
			st.To.Channel, st.To.Endpoint = far.Channel, far.Endpoint
		}
		switch {
		case cl.vmdrop != "":
			st.Status, st.Reason = VoicemailDropped, "VMDROP"
			st.VMDropMedia = cl.vmdrop
			st.Evidence = Evidence{Rule: "outbound.voicemail_dropped.media", Events: ev(cl.vmdropRef)}
		case answered != nil:
			st.Status, st.Reason = Connected, "ANSWER"
			st.Evidence = Evidence{Rule: "outbound.connected.far_answer", Events: ev(answered.ref)}
		default:
			st.Status, st.Reason = Canceled, missedReason(cl, st)
			st.Evidence = Evidence{Rule: "outbound.canceled.no_far_answer", Events: ev(cl.lastDialRef, cl.origRef)}
		}
	}
	st.Evidence.Rule += "+direction." + dirRule
	return st
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

func missedReason(cl *call, st CallStatus) string {
	switch {
	case cl.lastDial != "":
		return cl.lastDial
	case cl.dialStatusVar != "":
		return cl.dialStatusVar
	}
	// A click-to-call whose first leg (the user's phone) never answered.
	if cl.origStatus != "" {
		return cl.origStatus
	}
	switch {
	case cl.voicemail:
		return "VOICEMAIL"
	case st.IVR:
		return "IVR"
	}
	return "NODIAL"
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
