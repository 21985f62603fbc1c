package testkit

import (
	"fmt"
	"strings"
	"time"
)

// AMIInboundAnswered is the AMI wire text of one inbound call from a trunk
// answered by phone 101, with Timestamp headers from t0 on.
func AMIInboundAnswered(linked string, t0 time.Time) string {
	a := map[string]string{"Channel": "PJSIP/trunk-" + linked, "Uniqueid": linked, "Linkedid": linked,
		"Context": "from-external", "Exten": "5550200", "CallerIDNum": "5550100", "CallerIDName": "<unknown>"}
	b := map[string]string{"Channel": "PJSIP/101-" + linked, "Uniqueid": linked + "1", "Linkedid": linked,
		"Context": "from-internal", "Exten": "s", "CallerIDNum": "101", "CallerIDName": "Alice"}
	var sb strings.Builder
	n := 0
	frame := func(event string, chans []map[string]string, state []string, extra ...string) {
		fmt.Fprintf(&sb, "Event: %s\r\nPrivilege: call,all\r\n", event)
		ts := t0.Add(time.Duration(n) * 100 * time.Millisecond)
		n++
		fmt.Fprintf(&sb, "Timestamp: %d.%06d\r\n", ts.Unix(), ts.Nanosecond()/1000)
		for i, c := range chans {
			p := ""
			if i == 1 {
				p = "Dest"
			}
			for _, k := range []string{"Channel", "CallerIDNum", "CallerIDName", "Context", "Exten", "Uniqueid", "Linkedid"} {
				fmt.Fprintf(&sb, "%s%s: %s\r\n", p, k, c[k])
			}
			fmt.Fprintf(&sb, "%sChannelStateDesc: %s\r\n", p, state[i])
		}
		for i := 0; i+1 < len(extra); i += 2 {
			fmt.Fprintf(&sb, "%s: %s\r\n", extra[i], extra[i+1])
		}
		sb.WriteString("\r\n")
	}
	one := func(c map[string]string) []map[string]string { return []map[string]string{c} }
	two := []map[string]string{a, b}
	frame("Newchannel", one(a), []string{"Ring"})
	frame("Newexten", one(a), []string{"Ring"}, "Application", "Dial", "AppData", "PJSIP/101,30")
	frame("Newchannel", one(b), []string{"Down"})
	frame("DialBegin", two, []string{"Ring", "Down"}, "DialString", "101")
	frame("Newstate", one(b), []string{"Up"})
	frame("DialEnd", two, []string{"Ring", "Up"}, "DialStatus", "ANSWER")
	frame("Newstate", one(a), []string{"Up"})
	frame("Hangup", one(b), []string{"Up"}, "Cause", "16", "Cause-txt", "Normal Clearing")
	frame("Hangup", one(a), []string{"Up"}, "Cause", "16", "Cause-txt", "Normal Clearing")
	return sb.String()
}
