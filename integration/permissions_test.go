package integration

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/callstatus/callstatus/lab"
)

// The accounts the shipped asterisk-conf gives the daemon, checked against
// the real Asterisk 22: what they can do and what they are refused.
// SECURITY.md explains the result.
func TestDaemonAccountPermissions(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: needs Docker")
	}
	a := lab.StartAsterisk(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("AMI callstatus", func(t *testing.T) {
		c, err := lab.DialAMI(ctx, a.AMIAddr, "callstatus", "callstatus-secret")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// What the daemon uses.
		for _, action := range []string{"Ping", "CoreShowChannels", "QueueStatus"} {
			if _, err := c.Action(ctx, action); err != nil {
				t.Errorf("%s: %v", action, err)
			}
		}
		// What it must not do: place, end, move calls, run CLI commands,
		// touch configuration or variables.
		denied := map[string][]lab.Field{
			"Originate":     {{Key: "Channel", Value: "Local/100@default"}, {Key: "Application", Value: "Wait"}, {Key: "Data", Value: "1"}},
			"Hangup":        {{Key: "Channel", Value: "PJSIP/none-00000001"}},
			"Redirect":      {{Key: "Channel", Value: "PJSIP/none-00000001"}, {Key: "Exten", Value: "1"}, {Key: "Context", Value: "default"}, {Key: "Priority", Value: "1"}},
			"Setvar":        {{Key: "Variable", Value: "GLOBAL_X"}, {Key: "Value", Value: "1"}},
			"Command":       {{Key: "Command", Value: "core show version"}},
			"GetConfig":     {{Key: "Filename", Value: "manager.conf"}},
			"UpdateConfig":  {{Key: "SrcFilename", Value: "manager.conf"}, {Key: "DstFilename", Value: "manager.conf"}},
			"Reload":        nil,
			"QueueAdd":      {{Key: "Queue", Value: "sales"}, {Key: "Interface", Value: "PJSIP/999"}},
			"BlindTransfer": {{Key: "Channel", Value: "PJSIP/none-00000001"}, {Key: "Exten", Value: "1"}, {Key: "Context", Value: "default"}},
		}
		for action, fields := range denied {
			_, err := c.Action(ctx, action, fields...)
			if err == nil || !strings.Contains(err.Error(), "Permission denied") {
				t.Errorf("%s as callstatus: %v, want Permission denied", action, err)
			}
		}
		// The whole surface: ListCommands names every action this account
		// may send. Asterisk lets any logged-in account use the actions
		// registered without a privilege (the second list); no
		// manager.conf setting removes them.
		frames, err := c.Action(ctx, "ListCommands")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, kv := range frames[0] {
			if kv.Key != "Response" && kv.Key != "ActionID" {
				got = append(got, kv.Key)
			}
		}
		sort.Strings(got)
		want := strings.Fields(`
			CoreSettings CoreShowChannelMap CoreShowChannels CoreStatus DBGet DBGetTree DeviceStateList
			ExtensionState ExtensionStateList Getvar LoggerRotate MailboxCount MailboxStatus PJSIPQualify
			PJSIPShowMaintenance PresenceState PresenceStateList ShowDialPlan Status VoicemailBoxSummary
			VoicemailUserStatus VoicemailUsersList
			BridgeDestroy BridgeInfo BridgeKick BridgeList BridgeTechnologyList BridgeTechnologySuspend
			BridgeTechnologyUnsuspend Challenge Events ListCommands Login Logoff Ping QueueChangePriorityCaller
			QueueReload QueueReset QueueRule QueueStatus QueueSummary QueueWithdrawCaller WaitEvent
			ConfbridgeList ConfbridgeListRooms`) // read-only listings of app_confbridge (the ConfBridge scenario loads it)
		sort.Strings(want)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("callstatus may send:\n%s\nwant:\n%s", strings.Join(got, " "), strings.Join(want, " "))
		}
	})

	t.Run("ARI callstatus (read_only)", func(t *testing.T) {
		do := func(method, path string) int {
			req, _ := http.NewRequestWithContext(ctx, method, a.ARIURL+"/ari/"+path, nil)
			req.SetBasicAuth("callstatus", "callstatus-secret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		tests := map[string]struct {
			method, path string
			want         int
		}{
			"list channels (the snapshot)": {"GET", "channels", 200},
			"originate":                    {"POST", "channels?endpoint=Local/100@default&app=callstatus", 403},
			"hang up":                      {"DELETE", "channels/none", 403},
			"write dynamic config":         {"PUT", "asterisk/config/dynamic/res_pjsip/auth/evil", 403},
			"set a global variable":        {"POST", "asterisk/variable?variable=X&value=1", 403},
			// Read-only still reads everything: configuration objects
			// (a PJSIP auth object's password among them) and stored
			// recordings. See SECURITY.md.
			"read dynamic config": {"GET", "asterisk/config/dynamic/res_pjsip/endpoint/101", 200},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				if got := do(tc.method, tc.path); got != tc.want {
					t.Errorf("%s %s = %d, want %d", tc.method, tc.path, got, tc.want)
				}
			})
		}
	})
}
