package mapping

import "time"

// SchemaVersion is the version of the CallStatus JSON document (see
// schema/callstatus.schema.json). Bump it on any incompatible change.
const SchemaVersion = 2

// Category is the seed's grouping of calls.
type Category string

const (
	// Outbound: placed by an internal user (a phone or a click-to-call).
	Outbound Category = "outbound"
	// Inbound: from outside, direct to an extension or a ring group, no queue.
	Inbound Category = "inbound"
	// Callcenter: the call entered at least one app_queue queue.
	Callcenter Category = "callcenter"
)

// Status is the one final outcome of a call. Every call ends in exactly one.
type Status string

const (
	// Connected: outbound, the far end answered (a human, a voicemail box or
	// a phone tree: the PBX saw an answer on the dialed leg).
	Connected Status = "connected"
	// VoicemailDropped: outbound, the agent played a pre-recorded voicemail
	// into the call (media matching the vm-drop patterns, or the dialplan
	// said so).
	VoicemailDropped Status = "voicemail_dropped"
	// Canceled: outbound, never connected; reason is the DIALSTATUS.
	Canceled Status = "canceled"
	// Answered: inbound, a phone or agent leg answered (not the PBX answering
	// for an IVR or voicemail).
	Answered Status = "answered"
	// Missed: inbound, no phone answered; reason says why.
	Missed Status = "missed"
	// Handled: callcenter, an agent connected in some queue.
	Handled Status = "handled"
	// Abandoned: callcenter, the caller left the queue (hung up or exited by
	// key) before any agent connected.
	Abandoned Status = "abandoned"
	// Timeout: callcenter, the queue ended the wait (QUEUESTATUS TIMEOUT and,
	// by default, the other system exits such as JOINEMPTY and FULL).
	Timeout Status = "timeout"
)

// Statuses lists every status in the seed's order.
var Statuses = []Status{Connected, VoicemailDropped, Canceled, Answered, Missed, Handled, Abandoned, Timeout}

// Party is a caller, callee or agent as the PBX named it.
type Party struct {
	Number   string `json:"number,omitempty"`
	Name     string `json:"name,omitempty"`
	Channel  string `json:"channel,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
}

// Leg is the outcome of one dialed phone or queue member leg, so that a ring
// group or a queue yields one call status with every phone's story inside.
type Leg struct {
	Channel  string `json:"channel"`
	Endpoint string `json:"endpoint,omitempty"`
	Queue    string `json:"queue,omitempty"`
	// Outcome: answered, answered_elsewhere, noanswer, busy, canceled,
	// chanunavail, congestion, rang (ended without a dial result).
	Outcome    string     `json:"outcome"`
	DialStatus string     `json:"dialstatus,omitempty"`
	RingStart  *time.Time `json:"ring_start,omitempty"`
	Answer     *time.Time `json:"answer,omitempty"`
	// RingEnd: when the dial of this leg ended (answered, or not).
	RingEnd *time.Time `json:"ring_end,omitempty"`
}

// QueueVisit is one stay of the caller in one queue.
type QueueVisit struct {
	Queue       string     `json:"queue"`
	Join        time.Time  `json:"join"`
	Leave       *time.Time `json:"leave,omitempty"`
	Position    int        `json:"position,omitempty"`
	QueueStatus string     `json:"queuestatus,omitempty"`
	Abandoned   bool       `json:"abandon_event,omitempty"`
	Agent       string     `json:"agent,omitempty"`
	WaitSeconds float64    `json:"wait_seconds"`
	// ServiceLevel is the queue's service level (seconds) the visit was
	// measured against; AnsweredWithinSL: an agent connected within it;
	// AbandonedWithinSL: the caller left (not a timeout) within it;
	// ShortAbandon: the caller left within mapping.short_abandon. SL1
	// and SL2 follow from the stream.
	ServiceLevel      float64 `json:"service_level"`
	AnsweredWithinSL  bool    `json:"answered_within_sl"`
	AbandonedWithinSL bool    `json:"abandoned_within_sl"`
	ShortAbandon      bool    `json:"short_abandon,omitempty"`
}

// Voicemail is the caller's stay in a voicemail box, from what Asterisk
// reports: VoiceMail() ran, VM_MESSAGEFILE (a message was saved).
type Voicemail struct {
	Box         string  `json:"box,omitempty"` // mailbox@context as the dialplan named it
	Reached     bool    `json:"reached"`
	MessageLeft bool    `json:"message_left"`
	Seconds     float64 `json:"seconds"` // in the box, greeting included
}

// Hangup is the cause of the call's end, from the origin channel.
type Hangup struct {
	Cause int    `json:"cause"`
	Text  string `json:"text,omitempty"`
	// By: who ended the conversation: the first to hang up after the last
	// answer, of the caller's side and the legs that answered (a canceled
	// or rung-out leg and a transferer leaving ended nothing). "callee":
	// an answered leg, or a busy refusal; "caller": the caller's side got
	// a hangup request from the far end (a BYE); "system": the PBX ended
	// the caller's side itself (Hangup(), a ring, route or queue
	// timeout). Empty when unknown.
	By string `json:"by,omitempty"`
}

// Evidence names the rule that decided the status and the events it rested on.
type Evidence struct {
	Rule   string   `json:"rule"`
	Events []string `json:"events,omitempty"`
}

// CallStatus is the final word on one call, published once.
type CallStatus struct {
	Schema    int       `json:"schema"`
	CallID    string    `json:"call_id"` // <pbx id>:<linkedid>
	LinkedID  string    `json:"linkedid"`
	PBX       string    `json:"pbx,omitempty"`
	Category  Category  `json:"category"`
	Status    Status    `json:"status"`
	Reason    string    `json:"reason"`
	Internal  bool      `json:"internal,omitempty"`
	Direction Direction `json:"direction"`
	// Detail keeps the exact Asterisk words the mapping rested on.
	DialStatus  string `json:"dialstatus,omitempty"`
	QueueStatus string `json:"queuestatus,omitempty"`
	Hangup      Hangup `json:"hangup"`

	From  Party  `json:"from"`
	To    Party  `json:"to"`
	Agent *Party `json:"agent,omitempty"`

	Queues []QueueVisit `json:"queues,omitempty"`
	Legs   []Leg        `json:"legs,omitempty"`

	Start       time.Time  `json:"start"`
	Answer      *time.Time `json:"answer,omitempty"`
	End         time.Time  `json:"end"`
	RingSeconds float64    `json:"ring_seconds"`
	WaitSeconds float64    `json:"wait_seconds"`
	TalkSeconds float64    `json:"talk_seconds"`

	Voicemail   *Voicemail `json:"voicemail,omitempty"` // the caller reached a voicemail box
	IVR         bool       `json:"ivr,omitempty"`       // the PBX answered before any phone
	VMDropMedia string     `json:"vmdrop_media,omitempty"`
	Transferred string     `json:"transferred,omitempty"` // blind or attended
	Channels    []string   `json:"channels"`
	// UniqueIDs are the Asterisk Uniqueids of Channels, in the same order:
	// a screen pop that knows any channel of the call finds it by them.
	UniqueIDs []string `json:"uniqueids"`
	// MergedLinkedIDs are the linkedids of calls merged into this one (a
	// transfer, a pickup, a dial across linkedids): a screen pop that saw
	// one of them finds this call under it too.
	MergedLinkedIDs []string `json:"merged_linkedids,omitempty"`
	Incomplete      bool     `json:"incomplete,omitempty"` // events may be missing (source gap, TTL sweep)
	JoinedLate      bool     `json:"joined_late,omitempty"`
	Inferred        string   `json:"inferred,omitempty"`
	// Backfilled: derived after the fact from Asterisk's own records (CEL
	// and queue_log) for a call the daemon did not see live; its evidence
	// names those records (cel:<id>:<type>, queue_log:<line>:<event>).
	Backfilled bool     `json:"backfilled,omitempty"`
	Evidence   Evidence `json:"evidence"`
}
