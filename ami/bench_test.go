package ami

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// callFrames is one inbound call as Asterisk 22 writes it with
// timestampevents=yes: %[1]d is a call number that makes ids fresh, %[2]d
// a seconds value. The shapes come from main/manager_channels.c,
// main/manager_bridges.c and main/stasis_channels.c.
const callFrames = "Event: Newchannel\r\nPrivilege: call,all\r\nTimestamp: %[2]d.100001\r\n" +
	"Channel: PJSIP/trunk-%08[1]x\r\nChannelState: 0\r\nChannelStateDesc: Down\r\nCallerIDNum: 15551230000\r\nCallerIDName: <unknown>\r\n" +
	"ConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: from-trunk\r\nExten: 100\r\n" +
	"Priority: 1\r\nUniqueid: %[2]d.%[1]d\r\nLinkedid: %[2]d.%[1]d\r\n\r\n" +
	"Event: VarSet\r\nPrivilege: dialplan,all\r\nTimestamp: %[2]d.100050\r\n" +
	"Channel: PJSIP/trunk-%08[1]x\r\nChannelState: 4\r\nChannelStateDesc: Ring\r\nCallerIDNum: 15551230000\r\nCallerIDName: <unknown>\r\n" +
	"ConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: from-trunk\r\nExten: 100\r\n" +
	"Priority: 1\r\nUniqueid: %[2]d.%[1]d\r\nLinkedid: %[2]d.%[1]d\r\nVariable: __CALLKIND\r\nValue: inbound\r\n\r\n" +
	"Event: Newexten\r\nPrivilege: dialplan,all\r\nTimestamp: %[2]d.100090\r\n" +
	"Channel: PJSIP/trunk-%08[1]x\r\nChannelState: 4\r\nChannelStateDesc: Ring\r\nCallerIDNum: 15551230000\r\nCallerIDName: <unknown>\r\n" +
	"ConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: from-trunk\r\nExten: 100\r\n" +
	"Priority: 2\r\nUniqueid: %[2]d.%[1]d\r\nLinkedid: %[2]d.%[1]d\r\nExtension: 100\r\nApplication: Dial\r\nAppData: PJSIP/100,30\r\n\r\n" +
	"Event: DialBegin\r\nPrivilege: call,all\r\nTimestamp: %[2]d.100200\r\n" +
	"Channel: PJSIP/trunk-%08[1]x\r\nChannelState: 4\r\nChannelStateDesc: Ring\r\nCallerIDNum: 15551230000\r\nCallerIDName: <unknown>\r\n" +
	"ConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: from-trunk\r\nExten: 100\r\n" +
	"Priority: 2\r\nUniqueid: %[2]d.%[1]d\r\nLinkedid: %[2]d.%[1]d\r\n" +
	"DestChannel: PJSIP/100-%08[1]x\r\nDestChannelState: 0\r\nDestChannelStateDesc: Down\r\nDestCallerIDNum: 100\r\nDestCallerIDName: <unknown>\r\n" +
	"DestConnectedLineNum: 15551230000\r\nDestConnectedLineName: <unknown>\r\nDestLanguage: en\r\nDestAccountCode: \r\nDestContext: agents\r\nDestExten: 100\r\n" +
	"DestPriority: 1\r\nDestUniqueid: %[2]d.%[1]d1\r\nDestLinkedid: %[2]d.%[1]d\r\nDialString: 100\r\n\r\n" +
	"Event: Newstate\r\nPrivilege: call,all\r\nTimestamp: %[2]d.900000\r\n" +
	"Channel: PJSIP/100-%08[1]x\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: 100\r\nCallerIDName: <unknown>\r\n" +
	"ConnectedLineNum: 15551230000\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: agents\r\nExten: 100\r\n" +
	"Priority: 1\r\nUniqueid: %[2]d.%[1]d1\r\nLinkedid: %[2]d.%[1]d\r\n\r\n" +
	"Event: BridgeEnter\r\nPrivilege: call,all\r\nTimestamp: %[2]d.900100\r\n" +
	"BridgeUniqueid: 7d6b-%[1]d\r\nBridgeType: basic\r\nBridgeTechnology: simple_bridge\r\nBridgeCreator: <unknown>\r\nBridgeName: <unknown>\r\n" +
	"BridgeNumChannels: 1\r\nBridgeVideoSourceMode: none\r\n" +
	"Channel: PJSIP/trunk-%08[1]x\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: 15551230000\r\nCallerIDName: <unknown>\r\n" +
	"ConnectedLineNum: 100\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: from-trunk\r\nExten: 100\r\n" +
	"Priority: 2\r\nUniqueid: %[2]d.%[1]d\r\nLinkedid: %[2]d.%[1]d\r\n\r\n" +
	"Event: Hangup\r\nPrivilege: call,all\r\nTimestamp: %[2]d.990000\r\n" +
	"Channel: PJSIP/trunk-%08[1]x\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: 15551230000\r\nCallerIDName: <unknown>\r\n" +
	"ConnectedLineNum: 100\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: from-trunk\r\nExten: 100\r\n" +
	"Priority: 2\r\nUniqueid: %[2]d.%[1]d\r\nLinkedid: %[2]d.%[1]d\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n"

// framesPerCall is the number of frames in callFrames.
const framesPerCall = 7

// GenStream returns a realistic AMI event stream of calls*7 frames, each
// call with fresh channel names and unique ids. Benchmarks of other
// readers (goami, goami2) should read the same bytes.
func GenStream(calls int) []byte {
	var b bytes.Buffer
	b.Grow(calls * 6000)
	for i := 0; i < calls; i++ {
		fmt.Fprintf(&b, callFrames, i+1, 1732550000+i)
	}
	return b.Bytes()
}

func BenchmarkReader(b *testing.B) {
	const calls = 2000
	stream := GenStream(calls)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	frames := 0
	for b.Loop() {
		r := NewReader(bytes.NewReader(stream))
		for {
			_, err := r.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			frames++
		}
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
}

// BenchmarkReaderTranslate is the whole hot path of Source.Next: the
// EventReader reads a frame and translates it.
func BenchmarkReaderTranslate(b *testing.B) {
	const calls = 2000
	stream := GenStream(calls)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	frames, events := 0, 0
	for b.Loop() {
		r := NewEventReader(bytes.NewReader(stream), EventOptions{})
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			events++
		}
		frames += int(r.Frames())
	}
	if events != frames {
		b.Fatalf("translated %d of %d frames", events, frames)
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
}
