package mapping

import (
	"testing"
	"time"
)

// Calls the daemon joined late are told from what the snapshot says each
// channel runs (AMI CoreShowChannel Application/ApplicationData), then
// followed live to their end.
func TestJoinedLateFromSnapshot(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	caller := Channel{UniqueID: "1.1", LinkedID: "1.1", Name: "PJSIP/trunk-00000001", Context: "from-external", Exten: "800266", CallerNum: "5550100", State: "Up"}
	phone := Channel{UniqueID: "1.2", LinkedID: "1.1", Name: "PJSIP/266-00000002", Context: "from-internal", Exten: "s", State: "Up"}
	ringing := phone
	ringing.State = "Ringing"
	dialing := caller
	dialing.State = "Ring"
	listed := func(ch Channel, app, data string) Event {
		return Event{Kind: ChannelSnapshot, Source: SourceSnapshot, Time: at, Chan: ch, Name: app, Value: data}
	}
	live := func(k Kind, ch Channel, s int) Event {
		return Event{Kind: k, Source: SourceAMI, Time: at.Add(time.Duration(s) * time.Second), Chan: ch, Cause: 16}
	}
	tests := map[string]struct {
		snap  []Event
		after []Event
		want  Status
		agent string
		ivr   bool // the PBX answered the caller before any phone (queues do)
	}{
		"answered before we came": {
			snap:  []Event{listed(caller, "Dial", "PJSIP/266,30,t"), listed(phone, "AppDial", "(Outgoing Line)")},
			after: []Event{live(ChannelHangup, phone, 5), live(ChannelHangup, caller, 5)},
			want:  Answered, agent: "266",
		},
		"still ringing, then nobody answers": {
			snap: []Event{listed(dialing, "Dial", "PJSIP/266,30,t"), listed(ringing, "AppDial", "(Outgoing Line)")},
			after: []Event{{Kind: DialEnd, Source: SourceAMI, Time: at.Add(4 * time.Second), Chan: dialing, Peer: ringing, Status: "NOANSWER"},
				live(ChannelHangup, ringing, 4), live(ChannelHangup, dialing, 4)},
			want: Missed,
		},
		"waiting in a queue, the caller gives up": {
			snap:  []Event{listed(caller, "Queue", "sales,r,,,30")},
			after: []Event{{Kind: QueueAbandon, Source: SourceAMI, Time: at.Add(3 * time.Second), Chan: caller, Queue: "sales"}, live(ChannelHangup, caller, 3)},
			want:  Abandoned, ivr: true,
		},
		"talking to a queue agent": {
			snap:  []Event{listed(caller, "Queue", "sales,r,,,30"), listed(phone, "AppQueue", "(Outgoing Line)")},
			after: []Event{live(ChannelHangup, phone, 9), live(ChannelHangup, caller, 9)},
			want:  Handled, agent: "266",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := New(DefaultConfig())
			m.Apply(Event{Kind: SourceUp, Source: SourceAMI, Time: at})
			var out []CallStatus
			for _, e := range tc.snap {
				out = append(out, m.Apply(e)...)
			}
			out = append(out, m.Apply(Event{Kind: SnapshotDone, Source: SourceAMI, Time: at})...)
			for _, e := range tc.after {
				out = append(out, m.Apply(e)...)
			}
			if len(out) != 1 {
				t.Fatalf("got %d statuses, want 1: %+v", len(out), out)
			}
			cs := out[0]
			if cs.Status != tc.want || !cs.JoinedLate || cs.Incomplete || cs.IVR != tc.ivr {
				t.Errorf("got %s/%s joined_late=%v incomplete=%v ivr=%v (%s), want %s joined late", cs.Category, cs.Status, cs.JoinedLate, cs.Incomplete, cs.IVR, cs.Evidence.Rule, tc.want)
			}
			if tc.agent != "" && (cs.Agent == nil || cs.Agent.Number != tc.agent) {
				t.Errorf("agent %+v, want %s", cs.Agent, tc.agent)
			}
		})
	}
}
