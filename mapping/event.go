package mapping

import "time"

// Kind names what happened. Each kind is a fact that AMI and ARI report in
// their own words; the translators in ami/ and ari/ map both onto these, so
// the engine never sees a wire format. Seeing the same fact twice (once from
// each source) must not change a call's outcome.
type Kind uint8

const (
	KindUnknown Kind = iota
	// ChannelCreated: AMI Newchannel, ARI ChannelCreated.
	ChannelCreated
	// ChannelState: AMI Newstate, ARI ChannelStateChange. Chan.State holds
	// the new state ("Up" means answered).
	ChannelState
	// ChannelHangup: the channel is gone. AMI Hangup, ARI ChannelDestroyed.
	// Cause/CauseText hold the Q.850 cause.
	ChannelHangup
	// HangupRequest: someone asked the channel to hang up (AMI
	// HangupRequest/SoftHangupRequest, ARI ChannelHangupRequest). Tells who
	// hung up first; the channel is still alive.
	HangupRequest
	// DialBegin: Chan dials Peer (AMI DialBegin, ARI Dial without status).
	// Value holds the dial string.
	DialBegin
	// DialEnd: the dial attempt of Chan to Peer ended with Status (the
	// DIALSTATUS word: ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION,
	// CHANUNAVAIL...). AMI DialEnd, ARI Dial with a final dialstatus.
	DialEnd
	// BridgeEnter / BridgeLeave: Chan entered or left Bridge. Count is the
	// number of channels in the bridge after the event when known.
	BridgeEnter
	BridgeLeave
	// QueueJoin: caller Chan joined Queue (AMI QueueCallerJoin).
	QueueJoin
	// QueueLeave: caller Chan left Queue for any reason (QueueCallerLeave).
	QueueLeave
	// QueueAbandon: AMI QueueCallerAbandon. Asterisk 22 emits it on a queue
	// timeout too, so it is evidence, not a verdict.
	QueueAbandon
	// AgentCalled / AgentConnect / AgentComplete / AgentRingNoAnswer: a
	// queue member leg Peer was rung / answered / finished / did not answer
	// for caller Chan in Queue.
	AgentCalled
	AgentConnect
	AgentComplete
	AgentRingNoAnswer
	// VarSet: variable Name set to Value on Chan (QUEUESTATUS, DIALSTATUS,
	// CALLSTATUS_*...). AMI VarSet, ARI ChannelVarset.
	VarSet
	// AppRun: Chan runs dialplan application Name with data Value (AMI
	// Newexten, ARI ChannelDialplan). Chan.Context/Exten say where.
	AppRun
	// UserEvent: a UserEvent named Name on Chan; Value holds its body.
	UserEvent
	// PlaybackStarted / PlaybackFinished: media Value played to Chan (ARI
	// playback events; target must be a channel).
	PlaybackStarted
	PlaybackFinished
	// Transfer: a blind or attended transfer that ties Chan, Peer and the
	// channels in Linked into one call (AMI BlindTransfer/AttendedTransfer,
	// ARI BridgeBlindTransfer/BridgeAttendedTransfer). Status holds
	// "blind" or "attended", Value the result.
	Transfer
	// SourceDown: the named source lost its connection; calls in flight may
	// miss events until it is back.
	SourceDown
	// SourceUp: the source is connected (again).
	SourceUp
	// ChannelSnapshot: a channel that already existed when the daemon
	// joined (AMI CoreShowChannel, ARI channel list).
	ChannelSnapshot
	// SnapshotDone: the snapshot that followed a (re)connect of source
	// Source is complete. Channels of calls in flight that it did not list
	// ended while nobody was listening: their calls are finalized with
	// what is known, marked incomplete.
	SnapshotDone

	kindCount
)

var kindNames = [...]string{
	KindUnknown:       "unknown",
	ChannelCreated:    "channel_created",
	ChannelState:      "channel_state",
	ChannelHangup:     "channel_hangup",
	HangupRequest:     "hangup_request",
	DialBegin:         "dial_begin",
	DialEnd:           "dial_end",
	BridgeEnter:       "bridge_enter",
	BridgeLeave:       "bridge_leave",
	QueueJoin:         "queue_join",
	QueueLeave:        "queue_leave",
	QueueAbandon:      "queue_abandon",
	AgentCalled:       "agent_called",
	AgentConnect:      "agent_connect",
	AgentComplete:     "agent_complete",
	AgentRingNoAnswer: "agent_ring_noanswer",
	VarSet:            "var_set",
	AppRun:            "app_run",
	UserEvent:         "user_event",
	PlaybackStarted:   "playback_started",
	PlaybackFinished:  "playback_finished",
	Transfer:          "transfer",
	SourceDown:        "source_down",
	SourceUp:          "source_up",
	ChannelSnapshot:   "channel_snapshot",
	SnapshotDone:      "snapshot_done",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Source says which connection reported an event.
type Source uint8

const (
	SourceNone Source = iota
	SourceAMI
	SourceARI
	SourceSnapshot
)

func (s Source) String() string {
	switch s {
	case SourceAMI:
		return "ami"
	case SourceARI:
		return "ari"
	case SourceSnapshot:
		return "snapshot"
	}
	return "none"
}

// Channel is what an event says about one channel. Empty fields are
// unknown, not empty: the engine keeps the last non-empty value.
type Channel struct {
	UniqueID      string // AMI Uniqueid, ARI channel id
	LinkedID      string // AMI Linkedid; ARI only through channelvars
	Name          string // e.g. PJSIP/trunk-00000001, Local/100@agents-00000002;1
	State         string // Asterisk state word: Down, Ring, Ringing, Up, Busy...
	CallerNum     string
	CallerName    string
	ConnectedNum  string
	ConnectedName string
	Context       string
	Exten         string
}

// Event is one normalized fact about a channel. Which fields are set depends
// on Kind (see the Kind constants).
type Event struct {
	Kind   Kind
	Source Source
	Time   time.Time // Asterisk's own timestamp when it sent one
	Chan   Channel
	Peer   Channel // dialed / agent leg
	// Linked holds further unique ids tied together by a Transfer.
	Linked    []string
	Name      string // variable, application, user event or source name
	Value     string // variable value, application data, media URI, dial string
	Status    string // DIALSTATUS, transfer type, queue leave reason
	Queue     string
	Bridge    string
	Count     int // channels in bridge after enter/leave, queue position
	Cause     int
	CauseText string
	// Seq orders events from one source; it names the event in a status's
	// evidence (AMI: frame number, ARI: line number).
	Seq uint64
}
