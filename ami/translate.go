package ami

import (
	"encoding/json"
	"strings"

	"github.com/callstatus/callstatus/mapping"
)

// eventKind maps the AMI event names the engine cares about. Everything
// else (Cdr, Cel, RTCP, DeviceStateChange, DialState...) is not
// translated: the engine decides from channel facts, not from summaries.
func eventKind(name string) (mapping.Kind, bool) {
	switch name {
	case "Newchannel":
		return mapping.ChannelCreated, true
	case "Newstate":
		return mapping.ChannelState, true
	case "Hangup":
		return mapping.ChannelHangup, true
	case "HangupRequest", "SoftHangupRequest":
		return mapping.HangupRequest, true
	case "DialBegin":
		return mapping.DialBegin, true
	case "DialEnd":
		return mapping.DialEnd, true
	case "BridgeEnter":
		return mapping.BridgeEnter, true
	case "BridgeLeave":
		return mapping.BridgeLeave, true
	case "QueueCallerJoin":
		return mapping.QueueJoin, true
	case "QueueCallerLeave":
		return mapping.QueueLeave, true
	case "QueueCallerAbandon":
		return mapping.QueueAbandon, true
	case "AgentCalled":
		return mapping.AgentCalled, true
	case "AgentConnect":
		return mapping.AgentConnect, true
	case "AgentComplete":
		return mapping.AgentComplete, true
	case "AgentRingNoAnswer":
		return mapping.AgentRingNoAnswer, true
	case "VarSet":
		return mapping.VarSet, true
	case "Newexten":
		return mapping.AppRun, true
	case "UserEvent":
		return mapping.UserEvent, true
	case "BlindTransfer", "AttendedTransfer":
		return mapping.Transfer, true
	case "CoreShowChannel":
		return mapping.ChannelSnapshot, true
	}
	return mapping.KindUnknown, false
}

// Translate turns an AMI event frame into a mapping event. It reports false
// for frames that are not events or name an event the engine does not use.
// The event's strings are substrings of the frame (no copies), Time comes
// from the Timestamp header (zero without timestampevents=yes), Seq is the
// frame's number and Source is mapping.SourceAMI.
//
// Field names follow Asterisk 22: the channel block of
// ast_manager_build_channel_state_string_prefix (with "Dest" for the dialed
// or agent leg), the bridge block of manager_bridges.c, the blobs of
// app_queue.c, and the transfer blocks of stasis_bridges.c.
func Translate(f *Frame) (mapping.Event, bool) {
	name := f.Event()
	kind, ok := eventKind(name)
	if !ok {
		return mapping.Event{}, false
	}
	ev := mapping.Event{Kind: kind, Source: mapping.SourceAMI, Seq: f.Seq}
	if name == "SoftHangupRequest" {
		ev.Status = "soft" // the PBX asked (Hangup(), a timeout), not the far end
	}
	if kind == mapping.Transfer {
		translateTransfer(f, &ev, name == "AttendedTransfer")
		return ev, ev.Chan.UniqueID != "" || ev.Peer.UniqueID != ""
	}
	for i, h := range f.Headers {
		if !apply(&ev, h.Key, h.Value) {
			// Keys the reader did not canonicalize (hand-built frames, odd
			// casing): try once more with the canonical spelling.
			if c := internKey([]byte(h.Key)); c != "" && c != h.Key {
				apply(&ev, c, h.Value)
			}
		}
		if kind == mapping.UserEvent && ev.Name != "" {
			// Everything after the UserEvent header is the user's body;
			// its keys must not be read as channel fields.
			ev.Value = userEventBody(f.Headers[i+1:])
			break
		}
	}
	if ev.Chan.UniqueID == "" && ev.Peer.UniqueID == "" {
		// Nothing to attach it to: a global VarSet (Uniqueid: none), a
		// UserEvent sent by an AMI action, a broken frame.
		return mapping.Event{}, false
	}
	return ev, true
}

// apply sets the event field that header k feeds, and reports whether k is
// a key it knows (used or deliberately ignored).
func apply(ev *mapping.Event, k, v string) bool {
	switch k {
	case "Event", "Privilege", "SystemName", "ChannelState", "Language", "AccountCode",
		"Priority", "Tenantid", "DestChannelState", "DestLanguage", "DestAccountCode",
		"DestPriority", "Extension", "TechCause", "Count", "BridgeType", "BridgeTechnology",
		"BridgeCreator", "BridgeName", "BridgeVideoSourceMode", "ActionID", "ChanVariable",
		"DestChanVariable", "DestTenantid", "Interface", "MemberName", "RingTime", "TalkTime",
		"OriginalPosition", "Duration", "SwapUniqueid", "Forward":
		// Known, not needed. (Extension: the deprecated copy of Exten.
		// Count: queue callers, not the caller's position.)
	case "Timestamp":
		ev.Time, _ = ParseTimestamp(v)

	case "Channel":
		ev.Chan.Name = none(v)
	case "Uniqueid":
		ev.Chan.UniqueID = none(v)
	case "Linkedid":
		ev.Chan.LinkedID = v
	case "ChannelStateDesc":
		ev.Chan.State = v
	case "CallerIDNum":
		ev.Chan.CallerNum = unknown(v)
	case "CallerIDName":
		ev.Chan.CallerName = unescapeC(unknown(v))
	case "ConnectedLineNum":
		ev.Chan.ConnectedNum = unknown(v)
	case "ConnectedLineName":
		ev.Chan.ConnectedName = unescapeC(unknown(v))
	case "Context":
		ev.Chan.Context = v
	case "Exten":
		ev.Chan.Exten = v

	case "DestChannel":
		ev.Peer.Name = v
	case "DestUniqueid":
		ev.Peer.UniqueID = v
	case "DestLinkedid":
		ev.Peer.LinkedID = v
	case "DestChannelStateDesc":
		ev.Peer.State = v
	case "DestCallerIDNum":
		ev.Peer.CallerNum = unknown(v)
	case "DestCallerIDName":
		ev.Peer.CallerName = unescapeC(unknown(v))
	case "DestConnectedLineNum":
		ev.Peer.ConnectedNum = unknown(v)
	case "DestConnectedLineName":
		ev.Peer.ConnectedName = unescapeC(unknown(v))
	case "DestContext":
		ev.Peer.Context = v
	case "DestExten":
		ev.Peer.Exten = v

	case "Cause":
		ev.Cause = atoi(v)
	case "Cause-txt":
		ev.CauseText = v
	case "DialString":
		ev.Value = v
	case "DialStatus":
		ev.Status = v
	case "BridgeUniqueid":
		ev.Bridge = v
	case "BridgeNumChannels":
		ev.Count = atoi(v)
	case "Queue":
		ev.Queue = v
	case "Position":
		ev.Count = atoi(v)
	case "HoldTime":
		// AgentConnect: seconds the caller waited. AgentComplete carries
		// a Reason, which wins (it comes later in the frame).
		if ev.Kind == mapping.AgentConnect {
			ev.Status = v
		}
	case "Reason":
		if ev.Kind == mapping.AgentComplete {
			ev.Status = v
		}
	case "Variable":
		if ev.Kind == mapping.VarSet {
			ev.Name = v
		}
	case "Value":
		if ev.Kind == mapping.VarSet {
			ev.Value = unescapeC(v)
		}
	case "Application":
		// Newexten; CoreShowChannel names the current application too.
		ev.Name = v
	case "AppData", "ApplicationData":
		ev.Value = v
	case "BridgeId":
		ev.Bridge = v // CoreShowChannel
	case "UserEvent":
		if ev.Kind == mapping.UserEvent {
			ev.Name = v
		}
	default:
		return false
	}
	return true
}

// translateTransfer fills a Transfer from BlindTransfer (Transferer*,
// Transferee*, Bridge*) or AttendedTransfer (OrigTransferer*,
// SecondTransferer*, Transferee*, TransferTarget*, LocalOne*, LocalTwo*,
// OrigBridge*). The transferer goes in Chan, the transferee (or, without
// one, the target) in Peer, every other unique id in Linked. Transfers are
// rare, so this takes the simple road of prefixed lookups.
func translateTransfer(f *Frame, ev *mapping.Event, attended bool) {
	ev.Time, _ = f.Time()
	ev.Value = f.Get("Result")
	if attended {
		ev.Status = "attended"
		ev.Chan = prefixedChannel(f, "OrigTransferer")
		ev.Bridge = f.Get("OrigBridgeUniqueid")
	} else {
		ev.Status = "blind"
		ev.Chan = prefixedChannel(f, "Transferer")
		ev.Bridge = f.Get("BridgeUniqueid")
	}
	ev.Peer = prefixedChannel(f, "Transferee")
	if ev.Peer.UniqueID == "" {
		ev.Peer = prefixedChannel(f, "TransferTarget")
	}
	if !attended {
		return
	}
	seen := [2]string{ev.Chan.UniqueID, ev.Peer.UniqueID}
	for _, p := range [...]string{"SecondTransferer", "TransferTarget", "Transferee", "LocalOne", "LocalTwo"} {
		id := f.Get(p + "Uniqueid")
		if id == "" || id == seen[0] || id == seen[1] || contains(ev.Linked, id) {
			continue
		}
		ev.Linked = append(ev.Linked, id)
	}
}

// prefixedChannel reads the channel block whose keys start with prefix.
func prefixedChannel(f *Frame, prefix string) mapping.Channel {
	get := func(k string) string { return f.Get(prefix + k) }
	return mapping.Channel{
		UniqueID:      get("Uniqueid"),
		LinkedID:      get("Linkedid"),
		Name:          get("Channel"),
		State:         get("ChannelStateDesc"),
		CallerNum:     unknown(get("CallerIDNum")),
		CallerName:    unescapeC(unknown(get("CallerIDName"))),
		ConnectedNum:  unknown(get("ConnectedLineNum")),
		ConnectedName: unescapeC(unknown(get("ConnectedLineName"))),
		Context:       get("Context"),
		Exten:         get("Exten"),
	}
}

// userEventBody renders the user's headers as a JSON object, the form the
// ARI translator uses for ChannelUserevent, so both sources agree.
// Channel variables appended by manager.conf channelvars are not part of it.
func userEventBody(hs []Header) string {
	body := make(map[string]string, len(hs))
	for _, h := range hs {
		if strings.HasPrefix(h.Key, "ChanVariable") {
			continue
		}
		body[h.Key] = h.Value
	}
	if len(body) == 0 {
		return ""
	}
	b, err := json.Marshal(body)
	if err != nil {
		return ""
	}
	return string(b)
}

// unknown maps Asterisk's placeholder for an absent caller id to "" (the
// mapping package's "unknown").
func unknown(v string) string {
	if v == "<unknown>" {
		return ""
	}
	return v
}

// none maps the "Channel: none" / "Uniqueid: none" of a global VarSet to "".
func none(v string) string {
	if v == "none" {
		return ""
	}
	return v
}

// unescapeC undoes ast_escape_c, which Asterisk applies to caller names
// and variable values (a quote arrives as \"). Strings without a backslash,
// nearly all of them, are returned as is.
func unescapeC(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		default: // \\ \' \" \? and anything unexpected
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// atoi parses a small non-negative decimal; anything else is 0.
func atoi(s string) int {
	n := 0
	if s == "" || len(s) > 9 {
		return 0
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
