package ami

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

// chanBlock is the channel block Asterisk 22 writes
// (ast_manager_build_channel_state_string_prefix).
func chanBlock(prefix, name string, state int, desc, cidNum, cidName, ctx, exten, uid, linked string) string {
	var b strings.Builder
	w := func(k, v string) { fmt.Fprintf(&b, "%s%s: %s\r\n", prefix, k, v) }
	w("Channel", name)
	w("ChannelState", fmt.Sprint(state))
	w("ChannelStateDesc", desc)
	w("CallerIDNum", cidNum)
	w("CallerIDName", cidName)
	w("ConnectedLineNum", "<unknown>")
	w("ConnectedLineName", "<unknown>")
	w("Language", "en")
	w("AccountCode", "")
	w("Context", ctx)
	w("Exten", exten)
	w("Priority", "1")
	w("Uniqueid", uid)
	w("Linkedid", linked)
	return b.String()
}

const (
	ts       = "Timestamp: 1732550000.123456\r\n"
	trunkUID = "1732550000.11"
	agentUID = "1732550000.12"
)

var tsTime = time.Unix(1732550000, 123456000).UTC()

func trunk(prefix, state string) string {
	st := map[string]int{"Down": 0, "Ring": 4, "Ringing": 5, "Up": 6}[state]
	return chanBlock(prefix, "PJSIP/trunk-0000000b", st, state, "15551230000", "<unknown>", "from-trunk", "100", trunkUID, trunkUID)
}

func agent(prefix, state string) string {
	st := map[string]int{"Down": 0, "Ring": 4, "Ringing": 5, "Up": 6}[state]
	return chanBlock(prefix, "PJSIP/100-0000000c", st, state, "100", "Alice \\\"Al\\\" Smith", "agents", "100", agentUID, trunkUID)
}

func trunkChan(state string) mapping.Channel {
	return mapping.Channel{UniqueID: trunkUID, LinkedID: trunkUID, Name: "PJSIP/trunk-0000000b", State: state,
		CallerNum: "15551230000", Context: "from-trunk", Exten: "100"}
}

func agentChan(state string) mapping.Channel {
	return mapping.Channel{UniqueID: agentUID, LinkedID: trunkUID, Name: "PJSIP/100-0000000c", State: state,
		CallerNum: "100", CallerName: `Alice "Al" Smith`, Context: "agents", Exten: "100"}
}

func parseFrame(t testing.TB, s string) Frame {
	t.Helper()
	f, err := NewReader(strings.NewReader(s)).ReadFrame()
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return f
}

func TestTranslate(t *testing.T) {
	bridge := "BridgeUniqueid: 5e2f-41\r\nBridgeType: basic\r\nBridgeTechnology: simple_bridge\r\nBridgeCreator: <unknown>\r\n" +
		"BridgeName: <unknown>\r\nBridgeNumChannels: 2\r\nBridgeVideoSourceMode: none\r\n"
	base := func(k mapping.Kind) mapping.Event {
		return mapping.Event{Kind: k, Source: mapping.SourceAMI, Time: tsTime, Seq: 1}
	}
	with := func(e mapping.Event, f func(*mapping.Event)) mapping.Event { f(&e); return e }
	tests := map[string]struct {
		in   string
		want mapping.Event
		skip bool
	}{
		"Newchannel": {
			in:   "Event: Newchannel\r\nPrivilege: call,all\r\n" + ts + trunk("", "Down") + "\r\n",
			want: with(base(mapping.ChannelCreated), func(e *mapping.Event) { e.Chan = trunkChan("Down") }),
		},
		"Newstate": {
			in:   "Event: Newstate\r\nPrivilege: call,all\r\n" + ts + agent("", "Up") + "\r\n",
			want: with(base(mapping.ChannelState), func(e *mapping.Event) { e.Chan = agentChan("Up") }),
		},
		"Hangup with TechCause": {
			in: "Event: Hangup\r\nPrivilege: call,all\r\n" + ts + trunk("", "Up") +
				"Cause: 16\r\nCause-txt: Normal Clearing\r\nTechCause: 200\r\n\r\n",
			want: with(base(mapping.ChannelHangup), func(e *mapping.Event) {
				e.Chan = trunkChan("Up")
				e.Cause, e.CauseText = 16, "Normal Clearing"
			}),
		},
		"HangupRequest": {
			in: "Event: HangupRequest\r\nPrivilege: call,all\r\n" + ts + trunk("", "Up") + "Cause: 16\r\n\r\n",
			want: with(base(mapping.HangupRequest), func(e *mapping.Event) {
				e.Chan = trunkChan("Up")
				e.Cause = 16
			}),
		},
		"SoftHangupRequest": {
			in:   "Event: SoftHangupRequest\r\nPrivilege: call,all\r\n" + ts + agent("", "Ringing") + "Cause: 26\r\n\r\n",
			want: with(base(mapping.HangupRequest), func(e *mapping.Event) { e.Chan = agentChan("Ringing"); e.Cause = 26; e.Status = "soft" }),
		},
		"DialBegin": {
			in: "Event: DialBegin\r\nPrivilege: call,all\r\n" + ts + trunk("", "Ring") + agent("Dest", "Down") +
				"DialString: 100\r\n\r\n",
			want: with(base(mapping.DialBegin), func(e *mapping.Event) {
				e.Chan, e.Peer, e.Value = trunkChan("Ring"), agentChan("Down"), "100"
			}),
		},
		"DialBegin from Originate has no caller": {
			in: "Event: DialBegin\r\nPrivilege: call,all\r\n" + ts + agent("Dest", "Down") + "DialString: PJSIP/100\r\n\r\n",
			want: with(base(mapping.DialBegin), func(e *mapping.Event) {
				e.Peer, e.Value = agentChan("Down"), "PJSIP/100"
			}),
		},
		"DialEnd": {
			in: "Event: DialEnd\r\nPrivilege: call,all\r\n" + ts + trunk("", "Ring") + agent("Dest", "Up") +
				"DialStatus: ANSWER\r\n\r\n",
			want: with(base(mapping.DialEnd), func(e *mapping.Event) {
				e.Chan, e.Peer, e.Status = trunkChan("Ring"), agentChan("Up"), "ANSWER"
			}),
		},
		"BridgeEnter": {
			in: "Event: BridgeEnter\r\nPrivilege: call,all\r\n" + ts + bridge + agent("", "Up") + "\r\n",
			want: with(base(mapping.BridgeEnter), func(e *mapping.Event) {
				e.Chan, e.Bridge, e.Count = agentChan("Up"), "5e2f-41", 2
			}),
		},
		"BridgeLeave": {
			in: "Event: BridgeLeave\r\nPrivilege: call,all\r\n" + ts +
				strings.Replace(bridge, "BridgeNumChannels: 2", "BridgeNumChannels: 1", 1) + trunk("", "Up") + "\r\n",
			want: with(base(mapping.BridgeLeave), func(e *mapping.Event) {
				e.Chan, e.Bridge, e.Count = trunkChan("Up"), "5e2f-41", 1
			}),
		},
		"QueueCallerJoin": {
			in: "Event: QueueCallerJoin\r\nPrivilege: agent,all\r\n" + ts + trunk("", "Up") +
				"Queue: support\r\nPosition: 1\r\nCount: 3\r\n\r\n",
			want: with(base(mapping.QueueJoin), func(e *mapping.Event) {
				e.Chan, e.Queue, e.Count = trunkChan("Up"), "support", 1
			}),
		},
		"QueueCallerLeave": {
			in: "Event: QueueCallerLeave\r\nPrivilege: agent,all\r\n" + ts + trunk("", "Up") +
				"Queue: support\r\nPosition: 2\r\nCount: 0\r\n\r\n",
			want: with(base(mapping.QueueLeave), func(e *mapping.Event) {
				e.Chan, e.Queue, e.Count = trunkChan("Up"), "support", 2
			}),
		},
		"QueueCallerAbandon": {
			in: "Event: QueueCallerAbandon\r\nPrivilege: agent,all\r\n" + ts + trunk("", "Up") +
				"Queue: support\r\nPosition: 1\r\nOriginalPosition: 1\r\nHoldTime: 31\r\n\r\n",
			want: with(base(mapping.QueueAbandon), func(e *mapping.Event) {
				e.Chan, e.Queue, e.Count = trunkChan("Up"), "support", 1
			}),
		},
		"AgentCalled": {
			in: "Event: AgentCalled\r\nPrivilege: agent,all\r\n" + ts + trunk("", "Up") + agent("Dest", "Down") +
				"Queue: support\r\nInterface: PJSIP/100\r\nMemberName: Alice\r\n\r\n",
			want: with(base(mapping.AgentCalled), func(e *mapping.Event) {
				e.Chan, e.Peer, e.Queue = trunkChan("Up"), agentChan("Down"), "support"
			}),
		},
		"AgentConnect": {
			in: "Event: AgentConnect\r\nPrivilege: agent,all\r\n" + ts + trunk("", "Up") + agent("Dest", "Up") +
				"Queue: support\r\nInterface: PJSIP/100\r\nMemberName: Alice\r\nHoldTime: 12\r\nRingTime: 3\r\n\r\n",
			want: with(base(mapping.AgentConnect), func(e *mapping.Event) {
				e.Chan, e.Peer, e.Queue, e.Status = trunkChan("Up"), agentChan("Up"), "support", "12"
			}),
		},
		"AgentComplete": {
			in: "Event: AgentComplete\r\nPrivilege: agent,all\r\n" + ts + trunk("", "Up") + agent("Dest", "Up") +
				"Queue: support\r\nInterface: PJSIP/100\r\nMemberName: Alice\r\nHoldTime: 12\r\nTalkTime: 60\r\nReason: caller\r\n\r\n",
			want: with(base(mapping.AgentComplete), func(e *mapping.Event) {
				e.Chan, e.Peer, e.Queue, e.Status = trunkChan("Up"), agentChan("Up"), "support", "caller"
			}),
		},
		"AgentRingNoAnswer": {
			in: "Event: AgentRingNoAnswer\r\nPrivilege: agent,all\r\n" + ts + trunk("", "Up") + agent("Dest", "Ringing") +
				"Queue: support\r\nInterface: PJSIP/100\r\nMemberName: Alice\r\nRingTime: 15\r\n\r\n",
			want: with(base(mapping.AgentRingNoAnswer), func(e *mapping.Event) {
				e.Chan, e.Peer, e.Queue = trunkChan("Up"), agentChan("Ringing"), "support"
			}),
		},
		"VarSet with escaped value": {
			in: "Event: VarSet\r\nPrivilege: dialplan,all\r\n" + ts + trunk("", "Up") +
				"Variable: DIALSTATUS\r\nValue: say \\\"hi\\\"\r\n\r\n",
			want: with(base(mapping.VarSet), func(e *mapping.Event) {
				e.Chan, e.Name, e.Value = trunkChan("Up"), "DIALSTATUS", `say "hi"`
			}),
		},
		"global VarSet is not translated": {
			in:   "Event: VarSet\r\nPrivilege: dialplan,all\r\n" + ts + "Channel: none\r\nUniqueid: none\r\nVariable: G\r\nValue: 1\r\n\r\n",
			skip: true,
		},
		"Newexten": {
			in: "Event: Newexten\r\nPrivilege: dialplan,all\r\n" + ts + trunk("", "Ring") +
				"Extension: 100\r\nApplication: Queue\r\nAppData: support,t,,,30\r\n\r\n",
			want: with(base(mapping.AppRun), func(e *mapping.Event) {
				e.Chan, e.Name, e.Value = trunkChan("Ring"), "Queue", "support,t,,,30"
			}),
		},
		"UserEvent with body": {
			in: "Event: UserEvent\r\nPrivilege: user,all\r\n" + ts + trunk("", "Up") +
				"UserEvent: CallStatusVMDrop\r\nFile: vm/drop1\r\nQueue: not-a-queue\r\n" +
				"ChanVariable(PJSIP/trunk-0000000b): X=1\r\n\r\n",
			want: with(base(mapping.UserEvent), func(e *mapping.Event) {
				e.Chan, e.Name = trunkChan("Up"), "CallStatusVMDrop"
				e.Value = `{"File":"vm/drop1","Queue":"not-a-queue"}`
			}),
		},
		"UserEvent from the AMI action has no channel": {
			in:   "Event: UserEvent\r\nPrivilege: user,all\r\n" + ts + "UserEvent: Ping\r\nX: y\r\n\r\n",
			skip: true,
		},
		"BlindTransfer": {
			in: "Event: BlindTransfer\r\nPrivilege: call,all\r\n" + ts + "Result: Success\r\n" +
				agent("Transferer", "Up") + trunk("Transferee", "Up") + bridge +
				"IsExternal: Yes\r\nContext: agents\r\nExtension: 200\r\n\r\n",
			want: with(base(mapping.Transfer), func(e *mapping.Event) {
				e.Chan, e.Peer, e.Status, e.Value, e.Bridge = agentChan("Up"), trunkChan("Up"), "blind", "Success", "5e2f-41"
			}),
		},
		"AttendedTransfer": {
			in: "Event: AttendedTransfer\r\nPrivilege: call,all\r\n" + ts + "Result: Success\r\n" +
				agent("OrigTransferer", "Up") + strings.ReplaceAll(bridge, "Bridge", "OrigBridge") +
				chanBlock("SecondTransferer", "PJSIP/100-0000000e", 6, "Up", "100", "<unknown>", "agents", "200", "1732550000.14", "1732550000.14") +
				trunk("Transferee", "Up") +
				chanBlock("TransferTarget", "PJSIP/200-0000000f", 6, "Up", "200", "<unknown>", "agents", "200", "1732550000.15", "1732550000.14") +
				"IsExternal: No\r\nDestType: Bridge\r\nDestBridgeUniqueid: 5e2f-41\r\n\r\n",
			want: with(base(mapping.Transfer), func(e *mapping.Event) {
				e.Chan, e.Peer, e.Status, e.Value, e.Bridge = agentChan("Up"), trunkChan("Up"), "attended", "Success", "5e2f-41"
				e.Linked = []string{"1732550000.14", "1732550000.15"}
			}),
		},
		"CoreShowChannel": {
			in: "Event: CoreShowChannel\r\nActionID: snap-1\r\n" + trunk("", "Up") +
				"Application: Queue\r\nApplicationData: support\r\nDuration: 00:01:05\r\nBridgeId: \r\n\r\n",
			want: with(base(mapping.ChannelSnapshot), func(e *mapping.Event) {
				e.Time = time.Time{}
				e.Chan, e.Name, e.Value = trunkChan("Up"), "Queue", "support"
			}),
		},
		"Cdr is ignored":         {in: "Event: Cdr\r\nPrivilege: cdr,all\r\nUniqueID: 1.1\r\nDisposition: ANSWERED\r\n\r\n", skip: true},
		"DialState is ignored":   {in: "Event: DialState\r\n" + trunk("", "Ring") + agent("Dest", "Ringing") + "DialStatus: RINGING\r\n\r\n", skip: true},
		"responses are ignored":  {in: "Response: Success\r\nMessage: Authentication accepted\r\n\r\n", skip: true},
		"odd key case still map": {in: "event: Newstate\r\nUNIQUEID: 1.5\r\nchannelstatedesc: Up\r\n\r\n", want: mapping.Event{Kind: mapping.ChannelState, Source: mapping.SourceAMI, Seq: 1, Chan: mapping.Channel{UniqueID: "1.5", State: "Up"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := parseFrame(t, tc.in)
			got, ok := Translate(&f)
			if tc.skip {
				if ok {
					t.Fatalf("translated to %+v, want not translated", got)
				}
				return
			}
			if !ok {
				t.Fatal("not translated")
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Translate\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestTranslateHandBuiltFrame(t *testing.T) {
	f := Frame{Headers: []Header{{"EVENT", "Hangup"}, {"uniqueid", "1.9"}, {"cause", "17"}}, Seq: 4}
	got, ok := Translate(&f)
	if !ok || got.Chan.UniqueID != "1.9" || got.Cause != 17 || got.Seq != 4 {
		t.Fatalf("Translate = %+v, %v", got, ok)
	}
}

func TestUnescapeC(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"plain":          {"Alice", "Alice"},
		"quotes":         {`\"Al\"`, `"Al"`},
		"backslash":      {`a\\b`, `a\b`},
		"newline":        {`a\nb`, "a\nb"},
		"trailing slash": {`a\`, `a\`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := unescapeC(tc.in); got != tc.want {
				t.Errorf("unescapeC(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
