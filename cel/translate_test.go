package cel

import (
	"testing"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

// row is one CEL row of a small call: eventtype, channel (a the caller,
// whose uniqueid is the linkedid; b and c legs), app, appdata, extra.
type row struct{ typ, ch, app, data, extra string }

// rowsOf numbers the rows a millisecond apart, the caller in context ctx.

func rowsOf(ctx string, rs ...row) []Record {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	names := map[string]string{"a": "PJSIP/trunk-00000001", "b": "PJSIP/201-00000002", "c": "PJSIP/202-00000003"}
	var out []Record
	for i, r := range rs {
		out = append(out, Record{ID: int64(i + 1), EventType: r.typ, EventTime: t0.Add(time.Duration(i) * time.Millisecond),
			UniqueID: "lab-1." + r.ch, LinkedID: "lab-1.a", ChanName: names[r.ch], AppName: r.app, AppData: r.data,
			Extra: r.extra, Context: ctx, Exten: "800201", CIDNum: "15550001"})
	}
	return out
}

// queueLine is a line of the caller's, in the second the rows are in
// (queue_log has whole seconds).
func queueLine(event string, data ...string) QueueLine {
	return QueueLine{Time: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), CallID: "lab-1.a", Queue: "sales", Agent: "NONE",
		Event: event, Data: data}
}

func TestTranslateCases(t *testing.T) {
	hangup := func(cause, dialstatus string) string {
		return `{"hangupcause":` + cause + `,"hangupsource":"","dialstatus":"` + dialstatus + `"}`
	}
	inQueue := []row{{"CHAN_START", "a", "", "", ""}, {"ANSWER", "a", "Answer", "", ""},
		{"APP_START", "a", "Queue", "sales,r,,,30", ""}}
	endQueue := []row{{"APP_END", "a", "Queue", "sales,r,,,30", ""}, {"HANGUP", "a", "", "", hangup("16", "")},
		{"CHAN_END", "a", "", "", ""}, {"LINKEDID_END", "a", "", "", ""}}
	tests := map[string]struct {
		rows  []Record
		lines []QueueLine
		want  string // category/status reason
	}{
		"a dial to an endpoint that makes no channel is CHANUNAVAIL": {rows: rowsOf("from-external",
			row{"CHAN_START", "a", "", "", ""}, row{"APP_START", "a", "Dial", "PJSIP/103", ""},
			row{"APP_END", "a", "Dial", "PJSIP/103", ""}, row{"HANGUP", "a", "", "", hangup("16", "")}),
			want: "inbound/missed CHANUNAVAIL"},
		"a busy leg": {rows: rowsOf("from-external",
			row{"CHAN_START", "a", "", "", ""}, row{"APP_START", "a", "Dial", "PJSIP/201", ""},
			row{"CHAN_START", "b", "", "", ""}, row{"HANGUP", "b", "", "", hangup("17", "")},
			row{"APP_END", "a", "Dial", "PJSIP/201", ""}, row{"HANGUP", "a", "", "", hangup("16", "BUSY")}),
			want: "inbound/missed BUSY"},
		"the caller hangs up while it rings": {rows: rowsOf("from-external",
			row{"CHAN_START", "a", "", "", ""}, row{"APP_START", "a", "Dial", "PJSIP/201", ""},
			row{"CHAN_START", "b", "", "", ""}, row{"HANGUP", "a", "", "", hangup("16", "CANCEL")},
			row{"HANGUP", "b", "", "", hangup("16", "")}),
			want: "inbound/missed CANCEL"},
		"a ring group: one busy, the other answers": {rows: rowsOf("from-external",
			row{"CHAN_START", "a", "", "", ""}, row{"APP_START", "a", "Dial", "PJSIP/201&PJSIP/202", ""},
			row{"CHAN_START", "b", "", "", ""}, row{"CHAN_START", "c", "", "", ""},
			row{"HANGUP", "b", "", "", hangup("17", "")}, row{"ANSWER", "c", "AppDial", "", ""},
			row{"BRIDGE_ENTER", "c", "", "", `{"bridge_id":"x"}`}, row{"BRIDGE_ENTER", "a", "", "", `{"bridge_id":"x"}`},
			row{"HANGUP", "c", "", "", hangup("16", "")}, row{"APP_END", "a", "Dial", "", ""},
			row{"HANGUP", "a", "", "", hangup("16", "ANSWER")}),
			want: "inbound/answered ANSWER"},
		"a queue left by key is an abandon": {rows: rowsOf("from-external", append(inQueue, endQueue...)...),
			lines: []QueueLine{queueLine("ENTERQUEUE", "", "15550001", "1"), queueLine("EXITWITHKEY", "5", "1", "1", "3")},
			want:  "callcenter/abandoned CALLER_LEFT"},
		"a queue emptied under the caller is a timeout (LEAVEEMPTY)": {rows: rowsOf("from-external", append(inQueue, endQueue...)...),
			lines: []QueueLine{queueLine("ENTERQUEUE", "", "15550001", "1"), queueLine("EXITEMPTY", "1", "1", "3")},
			want:  "callcenter/timeout LEAVEEMPTY"},
		"refused at join: no queue_log line at all": {rows: rowsOf("from-external", append(inQueue, endQueue...)...),
			want: "callcenter/timeout JOINEMPTY"},
		"a CELGenUserEvent drop marker, show_user_defined off": {rows: rowsOf("from-internal",
			row{"CHAN_START", "a", "", "", ""}, row{"APP_START", "a", "Dial", "PJSIP/trunk", ""},
			row{"CHAN_START", "b", "", "", ""}, row{"ANSWER", "b", "AppDial", "", ""},
			row{"CallStatusVMDrop", "b", "", "", ""},
			row{"HANGUP", "b", "", "", hangup("16", "")}, row{"APP_END", "a", "Dial", "", ""},
			row{"HANGUP", "a", "", "", hangup("16", "ANSWER")}),
			want: "outbound/voicemail_dropped VMDROP"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for i := range tc.rows {
				if tc.rows[i].EventType == "CallStatusVMDrop" {
					tc.rows[i].UserDefType = "CallStatusVMDrop"
				}
			}
			res := Translate(tc.rows, tc.lines, Options{QueueLog: true})
			if res.Stats.Unknown != 0 || res.Stats.Unanchored != 0 {
				t.Errorf("stats %+v", res.Stats)
			}
			m := mapping.New(mapping.DefaultConfig())
			var got []mapping.CallStatus
			for _, e := range res.Events {
				got = append(got, m.Apply(e)...)
			}
			got = append(got, m.Sweep(tc.rows[len(tc.rows)-1].EventTime.Add(time.Hour))...)
			if len(got) != 1 {
				t.Fatalf("%d statuses, want 1: %+v", len(got), got)
			}
			if s := string(got[0].Category) + "/" + string(got[0].Status) + " " + got[0].Reason; s != tc.want {
				t.Errorf("got %s (%s), want %s", s, got[0].Evidence.Rule, tc.want)
			}
		})
	}
}
