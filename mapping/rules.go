package mapping

import (
	"strconv"
	"strings"
)

// Direction says who placed a call.
type Direction string

const (
	// DirInbound: from outside (a trunk, or an inbound dialplan context).
	DirInbound Direction = "inbound"
	// DirOutbound: placed by an internal user towards a trunk.
	DirOutbound Direction = "outbound"
	// DirInternal: placed by an internal user, no trunk dialed.
	DirInternal Direction = "internal"
)

// RuleID names the rule that decided a status (Evidence.Rule, before the
// "+direction.<how>" suffix). The ids are stable: consumers and the
// README's rule table use them.
type RuleID string

const (
	RuleHandledAgentConnect   RuleID = "callcenter.handled.agent_connect"
	RuleHandledMemberAnswer   RuleID = "callcenter.handled.member_answer"
	RuleTimeoutQueueStatus    RuleID = "callcenter.timeout.queuestatus"
	RuleAbandonedQueueStatus  RuleID = "callcenter.abandoned.queuestatus"
	RuleAbandonedCallerLeft   RuleID = "callcenter.abandoned.caller_left"
	RuleAnsweredLegAnswer     RuleID = "inbound.answered.leg_answer"
	RuleMissedNoLegAnswer     RuleID = "inbound.missed.no_leg_answer"
	RuleVoicemailDroppedMedia RuleID = "outbound.voicemail_dropped.media"
	RuleConnectedFarAnswer    RuleID = "outbound.connected.far_answer"
	RuleCanceledNoFarAnswer   RuleID = "outbound.canceled.no_far_answer"
	RuleConnectedFeatureApp   RuleID = "outbound.connected.feature_app"
	RuleCanceledFeatureApp    RuleID = "outbound.canceled.feature_app"
)

// rule is one line of the status table: within its category, the first
// rule whose predicate holds decides the status, the reason and the events
// cited as evidence.
type rule struct {
	id       RuleID
	category Category
	status   Status
	when     func(f *facts) bool
	reason   func(f *facts) string
	evidence func(f *facts) []ref
}

// rules, in order of precedence within each category. A call is
// callcenter when it visited a queue, else its direction decides: inbound,
// or outbound (internal calls included).
var rules = []rule{
	{RuleHandledAgentConnect, Callcenter, Handled,
		func(f *facts) bool { return f.handledBy != nil },
		word("AGENT_CONNECT"),
		func(f *facts) []ref { return []ref{f.handledBy.connectRef} }},
	{RuleHandledMemberAnswer, Callcenter, Handled,
		func(f *facts) bool { return f.answered != nil && f.answered.queue != "" },
		word("ANSWER"),
		answerRef},
	{RuleTimeoutQueueStatus, Callcenter, Timeout,
		func(f *facts) bool { return contains(f.cfg.TimeoutExits, f.lastVisit().status) },
		queueStatus,
		func(f *facts) []ref { return []ref{f.lastVisit().statusRef, f.lastVisit().abandonRef} }},
	{RuleAbandonedQueueStatus, Callcenter, Abandoned,
		func(f *facts) bool { return f.lastVisit().status != "" },
		queueStatus,
		func(f *facts) []ref { return []ref{f.lastVisit().statusRef} }},
	{RuleAbandonedCallerLeft, Callcenter, Abandoned,
		always,
		func(f *facts) string {
			if f.lastVisit().abandon {
				return "ABANDON"
			}
			return "CALLER_LEFT"
		},
		func(f *facts) []ref { return []ref{f.lastVisit().abandonRef} }},

	{RuleAnsweredLegAnswer, Inbound, Answered,
		func(f *facts) bool { return f.answered != nil },
		word("ANSWER"),
		answerRef},
	{RuleMissedNoLegAnswer, Inbound, Missed,
		always,
		missedReason,
		dialRefs},

	{RuleVoicemailDroppedMedia, Outbound, VoicemailDropped,
		func(f *facts) bool { return f.cl.vmdrop != "" },
		word("VMDROP"),
		func(f *facts) []ref { return []ref{f.cl.vmdropRef} }},
	{RuleConnectedFarAnswer, Outbound, Connected,
		func(f *facts) bool { return f.answered != nil },
		word("ANSWER"),
		answerRef},
	{RuleConnectedFeatureApp, Outbound, Connected,
		func(f *facts) bool { return f.featureCall() && f.originUp() },
		featureReason,
		noRefs},
	{RuleCanceledFeatureApp, Outbound, Canceled,
		func(f *facts) bool { return f.featureCall() },
		featureReason,
		noRefs},
	{RuleCanceledNoFarAnswer, Outbound, Canceled,
		always,
		missedReason,
		dialRefs},
}

func always(*facts) bool { return true }

func word(w string) func(*facts) string {
	return func(*facts) string { return w }
}

func queueStatus(f *facts) string { return f.lastVisit().status }

func noRefs(*facts) []ref { return nil }

// featureReason names the application, as Asterisk does (ChanSpy).
func featureReason(f *facts) string { return f.cl.featureApp() }

// featureCall: the caller's side ran a feature application and dialed
// nobody.
func (f *facts) featureCall() bool { return f.cl.feature != 0 && len(f.legList) == 0 }

// originUp: the PBX answered the caller's side.
func (f *facts) originUp() bool {
	for _, c := range f.chans {
		if !f.peers[c] && !c.up.IsZero() {
			return true
		}
	}
	return false
}

func answerRef(f *facts) []ref { return []ref{f.answered.ref} }

func dialRefs(f *facts) []ref { return []ref{f.cl.lastDialRef, f.cl.origRef} }

// missedReason: the last dial's status, else what the caller met instead.
func missedReason(f *facts) string {
	cl := f.cl
	switch {
	case cl.lastDial != "":
		return cl.lastDial
	case cl.dialStatusVar != "":
		return cl.dialStatusVar
	case cl.origStatus != "":
		// A click-to-call whose first leg (the user's phone) never answered.
		return cl.origStatus
	case cl.vm != nil:
		return "VOICEMAIL"
	case f.ivr:
		return "IVR"
	}
	return "NODIAL"
}

// category: callcenter when the call visited a queue, else by direction.
func (f *facts) category() Category {
	switch {
	case len(f.visits) > 0:
		return Callcenter
	case f.dir == DirInbound:
		return Inbound
	}
	return Outbound
}

// classify applies the first rule of the call's category that holds, then
// names the parties as the category reads them.
func (f *facts) classify(st *CallStatus) {
	st.Category = f.category()
	for i := range rules {
		r := &rules[i]
		if r.category != st.Category || !r.when(f) {
			continue
		}
		st.Status, st.Reason = r.status, r.reason(f)
		st.Evidence = Evidence{Rule: string(r.id) + "+direction." + f.dirRule, Events: evidence(r.evidence(f))}
		break
	}
	switch st.Category {
	case Callcenter:
		if v := f.handledBy; v != nil && st.Agent == nil {
			st.Agent = channelParty(v.agent)
		}
	case Inbound:
		if st.Status == Missed {
			st.Agent = nil
		}
	case Outbound:
		// The placing user is the agent; who answered is the far end.
		if far := st.Agent; far != nil {
			st.To.Channel, st.To.Endpoint = far.Channel, far.Endpoint
		}
		o := f.origin
		st.Agent = &Party{Number: o.callerNum, Name: o.callerName, Channel: o.name, Endpoint: endpoint(o.name)}
		if st.Status == VoicemailDropped {
			if app, ok := strings.CutPrefix(f.cl.vmdrop, vmdropAppPrefix); ok {
				st.Inferred = "vmdrop_app:" + app // AMI saw the application, not the playback
			} else {
				st.VMDropMedia = f.cl.vmdrop
			}
		}
	}
}

// evidence names the cited events as source:seq:kind.
func evidence(rs []ref) []string {
	var out []string
	for _, r := range rs {
		if r != 0 {
			out = append(out, r.src().String()+":"+strconv.FormatUint(r.seq(), 10)+":"+r.kind().String())
		}
	}
	return out
}

// RuleInfo describes one rule of the status table.
type RuleInfo struct {
	ID       RuleID
	Category Category
	Status   Status
}

// Rules lists the status table in order of precedence.
func Rules() []RuleInfo {
	out := make([]RuleInfo, len(rules))
	for i, r := range rules {
		out[i] = RuleInfo{r.id, r.category, r.status}
	}
	return out
}
