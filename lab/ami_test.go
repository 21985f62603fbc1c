package lab

import (
	"bufio"
	"context"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReadFrame(t *testing.T) {
	tests := map[string]struct {
		in   string
		want Frame
		err  error
	}{
		"response": {
			in:   "Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n",
			want: Frame{{"Response", "Success"}, {"ActionID", "1"}, {"Message", "Authentication accepted"}},
		},
		"value with colons keeps them": {
			in:   "Event: VarSet\r\nValue: a: b\r\n\r\n",
			want: Frame{{"Event", "VarSet"}, {"Value", "a: b"}},
		},
		"leading blank lines are skipped": {
			in:   "\r\n\r\nEvent: Hangup\r\n\r\n",
			want: Frame{{"Event", "Hangup"}},
		},
		"bare newlines": {
			in:   "Event: Newchannel\nChannel: PJSIP/101-00000001\n\n",
			want: Frame{{"Event", "Newchannel"}, {"Channel", "PJSIP/101-00000001"}},
		},
		"end of stream": {in: "", err: io.EOF},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var raw strings.Builder
			got, err := readFrame(bufio.NewReader(strings.NewReader(tc.in)), &raw)
			if err != tc.err {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if tc.err == nil && raw.String() != tc.in {
				t.Fatalf("raw copy %q, want %q", raw.String(), tc.in)
			}
		})
	}
}

// fakeAMI accepts one connection, accepts any login, and answers
// CoreShowChannels with a two-channel list and anything else with Success.
func fakeAMI(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "Asterisk Call Manager/11.0.0\r\n")
		r := bufio.NewReader(conn)
		for {
			f, err := readFrame(r, nil)
			if err != nil {
				return
			}
			id := f.Get("ActionID")
			switch f.Get("Action") {
			case "Login":
				io.WriteString(conn, "Response: Success\r\nActionID: "+id+"\r\nMessage: Authentication accepted\r\n\r\n")
				io.WriteString(conn, "Event: FullyBooted\r\nPrivilege: system,all\r\n\r\n")
			case "CoreShowChannels":
				io.WriteString(conn, "Response: Success\r\nActionID: "+id+"\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n")
				for _, ch := range []string{"PJSIP/101-00000001", "PJSIP/trunk-00000002"} {
					io.WriteString(conn, "Event: CoreShowChannel\r\nActionID: "+id+"\r\nChannel: "+ch+"\r\nLinkedid: lab-1.0\r\nChannelStateDesc: Up\r\n\r\n")
				}
				io.WriteString(conn, "Event: CoreShowChannelsComplete\r\nActionID: "+id+"\r\nEventList: Complete\r\nListItems: 2\r\n\r\n")
			case "Logoff":
				io.WriteString(conn, "Response: Goodbye\r\nActionID: "+id+"\r\n\r\n")
				return
			default:
				io.WriteString(conn, "Response: Error\r\nActionID: "+id+"\r\nMessage: Invalid/unknown command\r\n\r\n")
			}
		}
	}()
	return ln.Addr().String()
}

func TestAMIClientLists(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var events []string
	c, err := DialAMIEvents(ctx, fakeAMI(t), "u", "p", func(f Frame) { events = append(events, f.Get("Event")) })
	if err != nil {
		t.Fatal(err)
	}
	chans, err := c.Channels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 2 || chans[1].Name != "PJSIP/trunk-00000002" || chans[0].LinkedID != "lab-1.0" {
		t.Fatalf("channels = %+v", chans)
	}
	if _, err := c.Action(ctx, "Bogus"); err == nil || !strings.Contains(err.Error(), "Invalid/unknown command") {
		t.Fatalf("Bogus action: err = %v", err)
	}
	c.Close()
	if !reflect.DeepEqual(events, []string{"FullyBooted"}) {
		t.Fatalf("events = %q", events)
	}
}

func TestTrackerWaitsForLinkedChannels(t *testing.T) {
	tr := newTracker()
	w := tr.watch("Local/800221@from-external-")
	ev := func(kind, name, uid, lid string) {
		tr.onEvent(Frame{{"Event", kind}, {"Channel", name}, {"Uniqueid", uid}, {"Linkedid", lid}})
	}
	ev("Newchannel", "Local/95552001@from-internal-00000001;1", "x.1", "x.1") // another call
	ev("Newchannel", "Local/800221@from-external-00000002;1", "a.1", "a.1")
	ev("Newchannel", "Local/221@lab-phones-00000003;1", "a.2", "a.1")
	ev("Hangup", "Local/800221@from-external-00000002;1", "a.1", "a.1")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	if err := tr.wait(ctx, w); err == nil {
		t.Fatal("wait returned while a linked channel was alive")
	}
	cancel()
	w = tr.watch("Local/800221@from-external-")
	ev("Newchannel", "Local/800221@from-external-00000004;1", "b.1", "b.1")
	go ev("Hangup", "Local/800221@from-external-00000004;1", "b.1", "b.1")
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := tr.wait(ctx, w); err != nil {
		t.Fatal(err)
	}
}
