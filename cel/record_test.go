package cel

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

func TestParseQueueLine(t *testing.T) {
	tests := map[string]struct {
		in   string
		want QueueLine
		bad  bool
	}{
		"enterqueue": {in: "1796114801|lab-1796114800.77|support|NONE|ENTERQUEUE||15550001011|1",
			want: QueueLine{Time: time.Unix(1796114801, 0).UTC(), CallID: "lab-1796114800.77", Queue: "support",
				Agent: "NONE", Event: "ENTERQUEUE", Data: []string{"", "15550001011", "1"}}},
		"connect names the agent's channel": {in: "1796114802|lab-1796114800.77|support|Agent 231|CONNECT|1|lab-1796114801.80|1\r\n",
			want: QueueLine{Time: time.Unix(1796114802, 0).UTC(), CallID: "lab-1796114800.77", Queue: "support",
				Agent: "Agent 231", Event: "CONNECT", Data: []string{"1", "lab-1796114801.80", "1"}}},
		"queuestart has no data": {in: "1796114600|NONE|NONE|NONE|QUEUESTART|",
			want: QueueLine{Time: time.Unix(1796114600, 0).UTC(), CallID: "NONE", Queue: "NONE", Agent: "NONE",
				Event: "QUEUESTART", Data: []string{""}}},
		"too few fields":       {in: "1796114600|NONE|NONE", bad: true},
		"time is not a number": {in: "yesterday|x|q|NONE|ABANDON|1|1|3", bad: true},
		"no event":             {in: "1796114600|x|q|NONE||1", bad: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseQueueLine(tc.in)
			if tc.bad {
				if !errors.Is(err, ErrBadRecord) {
					t.Fatalf("err = %v, want ErrBadRecord", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Time != tc.want.Time || got.CallID != tc.want.CallID || got.Queue != tc.want.Queue ||
				got.Agent != tc.want.Agent || got.Event != tc.want.Event || strings.Join(got.Data, "|") != strings.Join(tc.want.Data, "|") {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestReadCSV(t *testing.T) {
	const export = `id,eventtype,eventtime,uniqueid,linkedid,channame,extra
1,CHAN_START,2026-12-01 08:43:28.55244,lab-1.0,lab-1.0,PJSIP/101-00000001,""
2,HANGUP,not a time,lab-1.0,lab-1.0,PJSIP/101-00000001,"{""hangupcause"":16}"
3,,2026-12-01 08:43:29,lab-1.0,lab-1.0,PJSIP/101-00000001,""
4,HANGUP,2026-12-01 08:43:30.5,lab-1.0,,PJSIP/101-00000001,"{""hangupcause"":16,""hangupsource"":"""",""dialstatus"":""""}"
x,CHAN_END,2026-12-01 08:43:30.5,lab-1.0,lab-1.0,PJSIP/101-00000001,""
`
	recs, st, err := ReadCSV(strings.NewReader(export), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Read != 2 || st.Bad != 3 || !strings.Contains(st.FirstBad, "line 3") {
		t.Fatalf("stats = %+v, want 2 read, 3 bad, the first on line 3", st)
	}
	if want := time.Date(2026, 12, 1, 8, 43, 28, 552440000, time.UTC); !recs[0].EventTime.Equal(want) {
		t.Errorf("eventtime = %s, want %s (UTC)", recs[0].EventTime, want)
	}
	if recs[1].LinkedID != "lab-1.0" {
		t.Errorf("a row without linkedid is its own call: got %q", recs[1].LinkedID)
	}
	if _, _, err := ReadCSV(strings.NewReader("a,b,c\n1,2,3\n"), nil); err == nil {
		t.Error("a CSV without the CEL columns must be refused")
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if berlin != nil {
		recs, _, _ := ReadCSV(strings.NewReader("eventtype,eventtime,uniqueid\nANSWER,2026-07-01 10:00:00,u\n"), berlin)
		if len(recs) != 1 || recs[0].EventTime.Hour() != 8 {
			t.Errorf("local eventtime without usegmtime: got %v, want 08:00 UTC", recs)
		}
	}
}

// Any input: no panic, every bad row counted, and the translation of what
// was read drives an engine to a state a far sweep empties.
func FuzzCEL(f *testing.F) {
	f.Add("id,eventtype,eventtime,uniqueid,linkedid,channame,appname,appdata,extra\n" +
		"1,CHAN_START,2026-12-01 08:00:00,a,a,PJSIP/1-1,,,\n" +
		"2,APP_START,2026-12-01 08:00:01,a,a,PJSIP/1-1,Dial,PJSIP/2,\n" +
		"3,CHAN_START,2026-12-01 08:00:01.5,b,a,PJSIP/2-2,,,\n" +
		"4,ANSWER,2026-12-01 08:00:02,b,a,PJSIP/2-2,,,\n" +
		"5,BRIDGE_ENTER,2026-12-01 08:00:02,b,a,PJSIP/2-2,,,\"{\"\"bridge_id\"\":\"\"x\"\"}\"\n" +
		"6,HANGUP,2026-12-01 08:00:03,b,a,PJSIP/2-2,,,\"{\"\"hangupcause\"\":16}\"\n" +
		"7,APP_END,2026-12-01 08:00:03,a,a,PJSIP/1-1,Dial,PJSIP/2,\n" +
		"8,HANGUP,2026-12-01 08:00:03,a,a,PJSIP/1-1,,,\"{\"\"dialstatus\"\":\"\"ANSWER\"\"}\"\n")
	f.Add("eventtype,eventtime,uniqueid\nBLINDTRANSFER,2026-12-01 08:00:00,a\nATTENDEDTRANSFER,2026-12-01 08:00:00,b\n")
	f.Add("eventtype,eventtime,uniqueid,extra\nHANGUP,2026-12-01 08:00:00,a,{\n\"")
	f.Fuzz(func(t *testing.T, in string) {
		recs, st, err := ReadCSV(strings.NewReader(in), nil)
		if err == nil && st.Read != len(recs) {
			t.Fatalf("read %d, returned %d", st.Read, len(recs))
		}
		checkTranslation(t, recs, nil)
	})
}

func FuzzQueueLog(f *testing.F) {
	f.Add("1796114801|lab-1.0|support|NONE|ENTERQUEUE||15550001011|1\n1796114802|lab-1.0|support|Agent 231|CONNECT|1|lab-1.2|1\n")
	f.Add("1796114817|lab-1.0|sales|NONE|EXITWITHTIMEOUT|1|1|4\n|||\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		lines, st, err := ReadQueueLog(strings.NewReader(in))
		if err == nil && st.Read != len(lines) {
			t.Fatalf("read %d, returned %d", st.Read, len(lines))
		}
		// The same callers in CEL, so the lines are anchored somewhere.
		var recs []Record
		t0 := time.Unix(1796114800, 0).UTC()
		for i, q := range lines {
			recs = append(recs,
				Record{ID: int64(3*i + 1), EventType: "CHAN_START", EventTime: t0, UniqueID: q.CallID, LinkedID: q.CallID},
				Record{ID: int64(3*i + 2), EventType: "APP_START", EventTime: t0, UniqueID: q.CallID, LinkedID: q.CallID,
					AppName: "Queue", AppData: q.Queue},
				Record{ID: int64(3*i + 3), EventType: "HANGUP", EventTime: q.Time.Add(time.Second), UniqueID: q.CallID, LinkedID: q.CallID})
		}
		checkTranslation(t, recs, lines)
	})
}

func checkTranslation(t *testing.T, recs []Record, lines []QueueLine) {
	t.Helper()
	res := Translate(recs, lines, Options{QueueLog: true})
	if len(res.Events) != res.Stats.Events {
		t.Fatalf("%d events, stats say %d", len(res.Events), res.Stats.Events)
	}
	m := mapping.New(mapping.DefaultConfig())
	var last time.Time
	for i, e := range res.Events {
		if e.Seq != uint64(i+1) || res.Label(e.Seq) == "" {
			t.Fatalf("event %d: seq %d label %q", i, e.Seq, res.Label(e.Seq))
		}
		for _, st := range m.Apply(e) {
			res.Relabel(&st)
		}
		if e.Time.After(last) {
			last = e.Time
		}
	}
	m.Sweep(last.Add(48 * time.Hour))
	if m.Active() != 0 {
		t.Fatalf("%d calls active after a far sweep", m.Active())
	}
}
