// Package ari reads Asterisk's ARI event websocket and turns its typed
// events (decoded by ari/v6) into mapping events.
//
// The ari/v6 message bus is not used: it drops events when a subscriber is
// slow, and a dropped ChannelDestroyed is a wrong call status. Source owns
// the websocket read loop instead, so a slow consumer slows the reads.
//
// What Asterisk 22 sends an observer (subscribeAll=true, no channel ever in
// our Stasis application), seen in the lab:
//   - channel objects carry no linkedid; with `channelvars = CHANNEL(linkedid)`
//     in ari.conf every one has it in channelvars (see LinkedIDVar);
//   - StasisStart/StasisEnd go only to the application that owns the
//     channel, never to an observer; playbacks on a channel do reach it,
//     with the channel only as "target_uri": "channel:<id>" (no linkedid);
//   - there are no queue events at all (app_queue speaks only AMI);
//   - ChannelHangupRequest often comes twice per channel (hard, then soft);
//   - a few types are newer than ari/v6 (ChannelTransfer, ChannelToneDetected,
//     ApplicationRegistered, CallBroadcast...): DecodeEvent rejects them and
//     Source counts them as unknown.
package ari

import (
	"encoding/json"
	"strings"
	"time"

	ariv6 "github.com/CyCoreSystems/ari/v6"

	"github.com/callstatus/callstatus/mapping"
)

// LinkedIDVar is the channelvars key that carries the linked id. ARI's
// channel JSON has no linkedid field; ari.conf must list it with
// `channelvars = CHANNEL(linkedid)` for it to appear.
const LinkedIDVar = "CHANNEL(linkedid)"

// dialProgress reports whether a dialstatus word is progress, not an end.
// Asterisk sends Dial with an empty dialstatus when an attempt starts, then
// these words while it rings, then one final word. The final words are not
// only DIALSTATUS's documented ones: a Dial(...,U(sub)) whose subroutine
// sets GOSUB_RESULT=ABORT ends with "ABORT" (and no ANSWER before it), and
// CONTINUE or GOTO are possible the same way; so everything else is final.
func dialProgress(s string) bool {
	switch s {
	case "RINGING", "PROGRESS", "PROCEEDING":
		return true
	}
	return false
}

// Translate maps one decoded ARI event onto mapping events. It reports false
// when the event carries nothing the engine uses (StasisStart, progress Dial
// states, playbacks on bridges, global variables...). It needs no state:
// every ARI event carries full channel snapshots.
//
// Every event it returns has Source = mapping.SourceARI, Time = the event's
// own timestamp, and at least one of Chan.UniqueID or Peer.UniqueID set.
func Translate(e ariv6.Event) ([]mapping.Event, bool) {
	var ev mapping.Event
	switch v := e.(type) {
	case *ariv6.ChannelCreated:
		ev = base(mapping.ChannelCreated, &v.EventData)
		ev.Chan = channel(&v.Channel)
	case *ariv6.ChannelStateChange:
		ev = base(mapping.ChannelState, &v.EventData)
		ev.Chan = channel(&v.Channel)
	case *ariv6.ChannelDestroyed:
		ev = base(mapping.ChannelHangup, &v.EventData)
		ev.Chan = channel(&v.Channel)
		ev.Cause = v.Cause
		ev.CauseText = v.CauseTxt
	case *ariv6.ChannelHangupRequest:
		ev = base(mapping.HangupRequest, &v.EventData)
		ev.Chan = channel(&v.Channel)
		ev.Cause = v.Cause
		if v.Soft {
			// AMI tells SoftHangupRequest from HangupRequest by name.
			ev.Status = "soft"
		}
	case *ariv6.Dial:
		switch {
		case v.Dialstatus == "":
			ev = base(mapping.DialBegin, &v.EventData)
		case dialProgress(v.Dialstatus):
			return nil, false
		default:
			// app_queue may end one member's attempt twice (NOANSWER,
			// then CANCEL with the dial string); both are passed on.
			ev = base(mapping.DialEnd, &v.EventData)
			ev.Status = v.Dialstatus
		}
		ev.Chan = channel(&v.Caller)
		ev.Peer = channel(&v.Peer)
		ev.Value = v.Dialstring
	case *ariv6.ChannelEnteredBridge:
		ev = base(mapping.BridgeEnter, &v.EventData)
		ev.Chan = channel(&v.Channel)
		ev.Bridge = v.Bridge.ID
		ev.Count = len(v.Bridge.ChannelIDs)
	case *ariv6.ChannelLeftBridge:
		ev = base(mapping.BridgeLeave, &v.EventData)
		ev.Chan = channel(&v.Channel)
		ev.Bridge = v.Bridge.ID
		ev.Count = len(v.Bridge.ChannelIDs)
	case *ariv6.ChannelVarset:
		// A missing channel means a global variable.
		ev = base(mapping.VarSet, &v.EventData)
		ev.Chan = channel(&v.Channel)
		ev.Name = v.Variable
		ev.Value = v.Value
	case *ariv6.ChannelDialplan:
		if v.DialplanApp == "" {
			// A location change without an application (e.g. a Local
			// channel being set up); AMI Newexten always names one.
			return nil, false
		}
		ev = base(mapping.AppRun, &v.EventData)
		ev.Chan = channel(&v.Channel)
		ev.Name = v.DialplanApp
		ev.Value = v.DialplanAppData
	case *ariv6.ChannelUserevent:
		ev = base(mapping.UserEvent, &v.EventData)
		ev.Chan = channel(&v.Channel)
		ev.Name = v.Eventname
		ev.Value = userEventBody(v.Userevent)
	case *ariv6.PlaybackStarted:
		return playback(mapping.PlaybackStarted, &v.EventData, &v.Playback)
	case *ariv6.PlaybackFinished:
		return playback(mapping.PlaybackFinished, &v.EventData, &v.Playback)
	case *ariv6.BridgeBlindTransfer:
		ev = base(mapping.Transfer, &v.EventData)
		ev.Status = "blind"
		ev.Value = v.Result
		ev.Bridge = v.Bridge.ID
		ev.Chan = channel(&v.Channel)
		ev.Peer = channel(&v.Transferee)
		ev.Linked = linked(ev.Chan.UniqueID, ev.Peer.UniqueID,
			append([]string{v.ReplaceChannel.ID}, v.Bridge.ChannelIDs...)...)
	case *ariv6.BridgeAttendedTransfer:
		ev = base(mapping.Transfer, &v.EventData)
		ev.Status = "attended"
		ev.Value = v.Result
		ev.Bridge = v.DestinationBridge
		ev.Chan = channel(&v.TransfererFirstLeg)
		ev.Peer = channel(&v.TransfererSecondLeg)
		ids := []string{
			v.Transferee.ID, v.TransferTarget.ID, v.ReplaceChannel.ID,
			v.DestinationLinkFirstLeg.ID, v.DestinationLinkSecondLeg.ID,
			v.DestinationThreewayChannel.ID,
		}
		ids = append(ids, v.TransfererFirstLegBridge.ChannelIDs...)
		ids = append(ids, v.TransfererSecondLegBridge.ChannelIDs...)
		ids = append(ids, v.DestinationThreewayBridge.ChannelIDs...)
		ev.Linked = linked(ev.Chan.UniqueID, ev.Peer.UniqueID, ids...)
	default:
		return nil, false
	}
	if ev.Chan.UniqueID == "" && ev.Peer.UniqueID == "" {
		// Nothing to attach it to: a global variable, a user event sent
		// to a bridge or endpoint, a malformed event.
		return nil, false
	}
	return []mapping.Event{ev}, true
}

// Snapshot turns one channel from GET /ari/channels into a ChannelSnapshot
// event seen at time at.
func Snapshot(c *ariv6.ChannelData, at time.Time) (mapping.Event, bool) {
	ch := channel(c)
	if ch.UniqueID == "" {
		return mapping.Event{}, false
	}
	return mapping.Event{
		Kind:   mapping.ChannelSnapshot,
		Source: mapping.SourceSnapshot,
		Time:   at,
		Chan:   ch,
	}, true
}

func base(k mapping.Kind, d *ariv6.EventData) mapping.Event {
	// UTC: Asterisk stamps its own offset; the instant is what matters.
	return mapping.Event{Kind: k, Source: mapping.SourceARI, Time: time.Time(d.Timestamp).UTC()}
}

func playback(k mapping.Kind, d *ariv6.EventData, p *ariv6.PlaybackData) ([]mapping.Event, bool) {
	// target_uri is "channel:<id>" or "bridge:<id>"; a bridge playback is
	// heard by everyone in it and says nothing about one channel.
	id, ok := strings.CutPrefix(p.TargetURI, "channel:")
	if !ok || id == "" {
		return nil, false
	}
	ev := base(k, d)
	ev.Chan.UniqueID = id
	ev.Value = p.MediaURI
	return []mapping.Event{ev}, true
}

// channel copies what the engine uses from an ARI channel snapshot.
func channel(c *ariv6.ChannelData) mapping.Channel {
	ch := mapping.Channel{
		UniqueID: c.ID,
		Name:     c.Name,
		State:    c.State,
		LinkedID: c.ChannelVars[LinkedIDVar],
	}
	if c.Caller != nil {
		ch.CallerNum = callerID(c.Caller.Number)
		ch.CallerName = callerID(c.Caller.Name)
	}
	if c.Connected != nil {
		ch.ConnectedNum = callerID(c.Connected.Number)
		ch.ConnectedName = callerID(c.Connected.Name)
	}
	if c.Dialplan != nil {
		ch.Context = c.Dialplan.Context
		ch.Exten = c.Dialplan.Exten
	}
	return ch
}

// callerID turns Asterisk's placeholder for "no caller id" into "unknown"
// (empty), matching what the AMI translator does with the same word.
func callerID(s string) string {
	if s == "<unknown>" {
		return ""
	}
	return s
}

// userEventBody renders the user event's fields as compact JSON (keys
// sorted, so equal bodies compare equal).
func userEventBody(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// linked returns ids without empties, duplicates, chan and peer, in order.
func linked(chanID, peerID string, ids ...string) []string {
	var out []string
	seen := map[string]bool{"": true, chanID: true, peerID: true}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}
