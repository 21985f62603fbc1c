package ari

import (
	"reflect"
	"strings"
	"testing"
	"time"

	ariv6 "github.com/CyCoreSystems/ari/v6"

	"github.com/callstatus/callstatus/mapping"
)

// Channel JSON as Asterisk 22 sends it with `channelvars = CHANNEL(linkedid)`
// in ari.conf. The placeholders are replaced per case.
const (
	aliceJSON = `{"id":"1736935200.1","name":"PJSIP/alice-00000001","state":"STATE",` +
		`"protocol_id":"4f1c@10.0.0.5","caller":{"name":"Alice","number":"100"},` +
		`"connected":{"name":"","number":"<unknown>"},"accountcode":"",` +
		`"dialplan":{"context":"from-internal","exten":"200","priority":2,"app_name":"Dial","app_data":"PJSIP/bob,30"},` +
		`"creationtime":"2025-01-15T10:00:00.120+0000","language":"en",` +
		`"channelvars":{"CHANNEL(linkedid)":"1736935200.1"},"caller_rdnis":"","tenantid":""}`
	bobJSON = `{"id":"1736935200.2","name":"PJSIP/bob-00000002","state":"STATE",` +
		`"protocol_id":"","caller":{"name":"Bob","number":"200"},` +
		`"connected":{"name":"Alice","number":"100"},"accountcode":"",` +
		`"dialplan":{"context":"from-internal","exten":"s","priority":1,"app_name":"AppDial","app_data":"(Outgoing Line)"},` +
		`"creationtime":"2025-01-15T10:00:00.150+0000","language":"en",` +
		`"channelvars":{"CHANNEL(linkedid)":"1736935200.1"}}`
	ts     = `"timestamp":"2025-01-15T10:00:01.500+0000","application":"callstatus","asterisk_id":"02:42:ac:11:00:02"`
	tsWant = "2025-01-15T10:00:01.5Z"
)

func alice(state string) string { return strings.Replace(aliceJSON, "STATE", state, 1) }
func bob(state string) string   { return strings.Replace(bobJSON, "STATE", state, 1) }

func aliceChan(state string) mapping.Channel {
	return mapping.Channel{UniqueID: "1736935200.1", LinkedID: "1736935200.1", Name: "PJSIP/alice-00000001",
		State: state, CallerNum: "100", CallerName: "Alice", Context: "from-internal", Exten: "200"}
}

func bobChan(state string) mapping.Channel {
	return mapping.Channel{UniqueID: "1736935200.2", LinkedID: "1736935200.1", Name: "PJSIP/bob-00000002",
		State: state, CallerNum: "200", CallerName: "Bob", ConnectedNum: "100", ConnectedName: "Alice",
		Context: "from-internal", Exten: "s"}
}

func TestTranslate(t *testing.T) {
	at, err := time.Parse(time.RFC3339Nano, tsWant)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(k mapping.Kind, f func(*mapping.Event)) []mapping.Event {
		e := mapping.Event{Kind: k, Source: mapping.SourceARI, Time: at}
		f(&e)
		return []mapping.Event{e}
	}
	tests := map[string]struct {
		json string
		want []mapping.Event // nil: not translated
	}{
		"ChannelCreated carries the linkedid from channelvars": {
			json: `{"type":"ChannelCreated",` + ts + `,"channel":` + alice("Ring") + `}`,
			want: ev(mapping.ChannelCreated, func(e *mapping.Event) { e.Chan = aliceChan("Ring") }),
		},
		"ChannelStateChange to Up": {
			json: `{"type":"ChannelStateChange",` + ts + `,"channel":` + bob("Up") + `}`,
			want: ev(mapping.ChannelState, func(e *mapping.Event) { e.Chan = bobChan("Up") }),
		},
		"ChannelDestroyed with cause": {
			json: `{"type":"ChannelDestroyed",` + ts + `,"cause":16,"cause_txt":"Normal Clearing","tech_cause":0,"channel":` + alice("Up") + `}`,
			want: ev(mapping.ChannelHangup, func(e *mapping.Event) {
				e.Chan = aliceChan("Up")
				e.Cause = 16
				e.CauseText = "Normal Clearing"
			}),
		},
		"ChannelHangupRequest soft": {
			json: `{"type":"ChannelHangupRequest",` + ts + `,"cause":16,"soft":true,"channel":` + alice("Up") + `}`,
			want: ev(mapping.HangupRequest, func(e *mapping.Event) {
				e.Chan = aliceChan("Up")
				e.Cause = 16
				e.Status = "soft"
			}),
		},
		"ChannelHangupRequest hard without cause": {
			json: `{"type":"ChannelHangupRequest",` + ts + `,"channel":` + bob("Ringing") + `}`,
			want: ev(mapping.HangupRequest, func(e *mapping.Event) { e.Chan = bobChan("Ringing") }),
		},
		"Dial with empty dialstatus begins": {
			json: `{"type":"Dial",` + ts + `,"dialstatus":"","dialstring":"bob","caller":` + alice("Ring") + `,"peer":` + bob("Down") + `}`,
			want: ev(mapping.DialBegin, func(e *mapping.Event) {
				e.Chan = aliceChan("Ring")
				e.Peer = bobChan("Down")
				e.Value = "bob"
			}),
		},
		"Dial RINGING is progress, not translated": {
			json: `{"type":"Dial",` + ts + `,"dialstatus":"RINGING","caller":` + alice("Ring") + `,"peer":` + bob("Ringing") + `}`,
		},
		"Dial PROGRESS is progress, not translated": {
			json: `{"type":"Dial",` + ts + `,"dialstatus":"PROGRESS","caller":` + alice("Ring") + `,"peer":` + bob("Ringing") + `}`,
		},
		"Dial ANSWER ends": {
			json: `{"type":"Dial",` + ts + `,"dialstatus":"ANSWER","dialstring":"bob","caller":` + alice("Ring") + `,"peer":` + bob("Up") + `}`,
			want: ev(mapping.DialEnd, func(e *mapping.Event) {
				e.Chan = aliceChan("Ring")
				e.Peer = bobChan("Up")
				e.Value = "bob"
				e.Status = "ANSWER"
			}),
		},
		"Dial ABORT after a U() subroutine ends": {
			json: `{"type":"Dial",` + ts + `,"dialstatus":"ABORT","dialstring":"","caller":` + alice("Up") + `,"peer":` + bob("Up") + `}`,
			want: ev(mapping.DialEnd, func(e *mapping.Event) {
				e.Chan = aliceChan("Up")
				e.Peer = bobChan("Up")
				e.Status = "ABORT"
			}),
		},
		"Dial NOANSWER from an originate has no caller": {
			json: `{"type":"Dial",` + ts + `,"dialstatus":"NOANSWER","peer":` + bob("Ringing") + `}`,
			want: ev(mapping.DialEnd, func(e *mapping.Event) {
				e.Peer = bobChan("Ringing")
				e.Status = "NOANSWER"
			}),
		},
		"ChannelEnteredBridge counts the bridge": {
			json: `{"type":"ChannelEnteredBridge",` + ts + `,"bridge":{"id":"b-1","technology":"simple_bridge","bridge_type":"mixing",` +
				`"bridge_class":"basic","creator":"","name":"","channels":["1736935200.1","1736935200.2"],"creationtime":"2025-01-15T10:00:01.400+0000","video_mode":"none"},` +
				`"channel":` + bob("Up") + `}`,
			want: ev(mapping.BridgeEnter, func(e *mapping.Event) {
				e.Chan = bobChan("Up")
				e.Bridge = "b-1"
				e.Count = 2
			}),
		},
		"ChannelLeftBridge": {
			json: `{"type":"ChannelLeftBridge",` + ts + `,"bridge":{"id":"b-1","bridge_type":"mixing","channels":["1736935200.2"]},"channel":` + alice("Up") + `}`,
			want: ev(mapping.BridgeLeave, func(e *mapping.Event) {
				e.Chan = aliceChan("Up")
				e.Bridge = "b-1"
				e.Count = 1
			}),
		},
		"ChannelEnteredBridge without channel is dropped": {
			json: `{"type":"ChannelEnteredBridge",` + ts + `,"bridge":{"id":"b-1","channels":[]}}`,
		},
		"ChannelVarset on a channel": {
			json: `{"type":"ChannelVarset",` + ts + `,"variable":"DIALSTATUS","value":"BUSY","channel":` + alice("Ring") + `}`,
			want: ev(mapping.VarSet, func(e *mapping.Event) {
				e.Chan = aliceChan("Ring")
				e.Name = "DIALSTATUS"
				e.Value = "BUSY"
			}),
		},
		"ChannelVarset global is ignored": {
			json: `{"type":"ChannelVarset",` + ts + `,"variable":"GLOBALVAR","value":"1"}`,
		},
		"ChannelDialplan runs an application": {
			json: `{"type":"ChannelDialplan",` + ts + `,"dialplan_app":"Dial","dialplan_app_data":"PJSIP/bob,30","channel":` + alice("Ring") + `}`,
			want: ev(mapping.AppRun, func(e *mapping.Event) {
				e.Chan = aliceChan("Ring")
				e.Name = "Dial"
				e.Value = "PJSIP/bob,30"
			}),
		},
		"ChannelDialplan without application is dropped": {
			json: `{"type":"ChannelDialplan",` + ts + `,"dialplan_app":"","dialplan_app_data":"","channel":` + alice("Down") + `}`,
		},
		"ChannelUserevent keeps the body as JSON": {
			json: `{"type":"ChannelUserevent",` + ts + `,"eventname":"CallOutcome","userevent":{"eventname":"CallOutcome","Status":"voicemail"},"channel":` + alice("Up") + `}`,
			want: ev(mapping.UserEvent, func(e *mapping.Event) {
				e.Chan = aliceChan("Up")
				e.Name = "CallOutcome"
				e.Value = `{"Status":"voicemail","eventname":"CallOutcome"}`
			}),
		},
		"ChannelUserevent on a bridge only is dropped": {
			json: `{"type":"ChannelUserevent",` + ts + `,"eventname":"X","userevent":{},"bridge":{"id":"b-1","channels":[]}}`,
		},
		"PlaybackStarted on a channel": {
			json: `{"type":"PlaybackStarted",` + ts + `,"playback":{"id":"pb-1","media_uri":"sound:vm-intro","target_uri":"channel:1736935200.1","language":"en","state":"playing"}}`,
			want: ev(mapping.PlaybackStarted, func(e *mapping.Event) {
				e.Chan.UniqueID = "1736935200.1"
				e.Value = "sound:vm-intro"
			}),
		},
		"PlaybackFinished on a channel": {
			json: `{"type":"PlaybackFinished",` + ts + `,"playback":{"id":"pb-1","media_uri":"sound:vm-intro","target_uri":"channel:1736935200.1","language":"en","state":"done"}}`,
			want: ev(mapping.PlaybackFinished, func(e *mapping.Event) {
				e.Chan.UniqueID = "1736935200.1"
				e.Value = "sound:vm-intro"
			}),
		},
		"PlaybackStarted on a bridge is ignored": {
			json: `{"type":"PlaybackStarted",` + ts + `,"playback":{"id":"pb-2","media_uri":"sound:beep","target_uri":"bridge:b-1","state":"playing"}}`,
		},
		"BridgeBlindTransfer ties transferer, transferee and bridge": {
			json: `{"type":"BridgeBlindTransfer",` + ts + `,"channel":` + bob("Up") + `,"transferee":` + alice("Up") +
				`,"bridge":{"id":"b-1","channels":["1736935200.1","1736935200.2"]},"exten":"300","context":"from-internal","result":"Success","is_external":false}`,
			want: ev(mapping.Transfer, func(e *mapping.Event) {
				e.Chan = bobChan("Up")
				e.Peer = aliceChan("Up")
				e.Bridge = "b-1"
				e.Status = "blind"
				e.Value = "Success"
			}),
		},
		"BridgeAttendedTransfer links all legs": {
			json: `{"type":"BridgeAttendedTransfer",` + ts + `,"transferer_first_leg":` + bob("Up") +
				`,"transferer_second_leg":{"id":"1736935200.3","name":"PJSIP/bob-00000003","state":"Up"}` +
				`,"transferee":` + alice("Up") + `,"transfer_target":{"id":"1736935200.4","name":"PJSIP/carol-00000004","state":"Up"}` +
				`,"transferer_first_leg_bridge":{"id":"b-1","channels":["1736935200.1","1736935200.2"]}` +
				`,"transferer_second_leg_bridge":{"id":"b-2","channels":["1736935200.3","1736935200.4"]}` +
				`,"destination_type":"bridge","destination_bridge":"b-1","result":"Success","is_external":false}`,
			want: ev(mapping.Transfer, func(e *mapping.Event) {
				e.Chan = bobChan("Up")
				e.Peer = mapping.Channel{UniqueID: "1736935200.3", Name: "PJSIP/bob-00000003", State: "Up"}
				e.Linked = []string{"1736935200.1", "1736935200.4"}
				e.Bridge = "b-1"
				e.Status = "attended"
				e.Value = "Success"
			}),
		},
		"StasisStart is not translated": {
			json: `{"type":"StasisStart",` + ts + `,"args":[],"channel":` + alice("Ring") + `}`,
		},
		"ChannelConnectedLine is not translated": {
			json: `{"type":"ChannelConnectedLine",` + ts + `,"channel":` + alice("Ring") + `}`,
		},
		"unknown caller id words become empty": {
			json: `{"type":"ChannelCreated",` + ts + `,"channel":{"id":"9.9","name":"Local/100@agents-00000000;1","state":"Down",` +
				`"caller":{"name":"<unknown>","number":"<unknown>"},"connected":{"name":"<unknown>","number":""},"dialplan":{"context":"agents","exten":"100","priority":1}}}`,
			want: ev(mapping.ChannelCreated, func(e *mapping.Event) {
				e.Chan = mapping.Channel{UniqueID: "9.9", Name: "Local/100@agents-00000000;1", State: "Down", Context: "agents", Exten: "100"}
			}),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e, err := ariv6.DecodeEvent([]byte(tc.json))
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			got, ok := Translate(e)
			if ok != (tc.want != nil) {
				t.Fatalf("Translate ok = %v, want %v (got %+v)", ok, tc.want != nil, got)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Translate:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestSnapshot(t *testing.T) {
	var c ariv6.ChannelData
	if err := c.UnmarshalJSON([]byte(alice("Up"))); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	got, ok := Snapshot(&c, at)
	want := mapping.Event{Kind: mapping.ChannelSnapshot, Source: mapping.SourceSnapshot, Time: at, Chan: aliceChan("Up")}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("Snapshot = %+v, %v; want %+v", got, ok, want)
	}
	if _, ok := Snapshot(&ariv6.ChannelData{}, at); ok {
		t.Error("Snapshot of a channel without id: ok = true")
	}
}
