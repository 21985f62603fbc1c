package lab

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/callstatus/callstatus/lab/answerkey"
)

// Call is what one call of a scenario is expected to end as (the answer
// key; see package answerkey). It comes from what the scenario does (the
// dialplan path, who answers, who hangs up first), never from the events:
// recordings pair it with the streams.
type Call = answerkey.Call

// Scenario is one lab situation: a way of placing calls and their expected
// outcome.
type Scenario struct {
	Name        string
	Description string
	Calls       []Call
	// KnownExtra are statuses the engine publishes today that are not
	// calls of the scenario (see answerkey.Extra).
	KnownExtra []answerkey.Extra
	// SIP scenarios run SIPp on fixed ports inside the container: run them
	// one at a time. All others may run concurrently.
	SIP bool
	run func(ctx context.Context, d *Driver) error
}

// Reasons the engine gets a key field wrong today (answerkey.Call.KnownWrong).
const (
	wrongNoSystem     = "an originate that timed out on the agent's phone (nobody hung up: the PBX gave up) is reported as the caller's hangup, not system"
	wrongQueueDS      = "a queue that timed out: dialstatus comes from the last member leg to end (CANCEL, when the queue stopped ringing), not the members' NOANSWER"
	wrongParkBy       = "the phone that retrieved the parked call hung up first; the engine reports caller"
	wrongReplacesCall = "the consultation call (its own linkedid, 102 to 255, answered) is merged into the transferred call and never published on its own"
	wrongC2CTo        = "a click-to-call whose agent never answered has no to: the customer's number is only in the originate (Exten), never dialed"
)

// Scenarios returns the catalogue. Numbers are distinct across scenarios
// (asterisk-conf/extensions.conf has the number plan) so that all but the
// SIP ones can run at the same time.
func Scenarios() []Scenario {
	// key fills the answer-key fields every call has: the agent, who hangs
	// up first, the deciding dial status.
	key := func(c Call, agent, hangupBy, dialstatus string) Call {
		c.Agent, c.HangupBy, c.DialStatus = agent, hangupBy, dialstatus
		return c
	}
	out := func(desc, status, reason, from, dialed, hangupBy, dialstatus string) Call {
		return key(Call{Description: desc, Category: "outbound", Status: status, Reason: reason,
			Direction: "outbound", From: from, To: dialed[1:], Dialed: dialed}, from, hangupBy, dialstatus)
	}
	in := func(desc, status, reason, from, did, agent, hangupBy, dialstatus string) Call {
		return key(Call{Description: desc, Category: "inbound", Status: status, Reason: reason,
			Direction: "inbound", From: from, To: did, Dialed: did}, agent, hangupBy, dialstatus)
	}
	cc := func(desc, status, reason, from, did, agent, hangupBy, dialstatus string, queues ...string) Call {
		return key(Call{Description: desc, Category: "callcenter", Status: status, Reason: reason,
			Direction: "inbound", From: from, To: did, Dialed: did, Queues: queues}, agent, hangupBy, dialstatus)
	}
	// feature is an internal user's call that runs a PBX application and
	// dials nobody (issue 10 point 5): reported as internal, with the
	// application as the reason.
	feature := func(desc, from, code, app, hangupBy string) Call {
		return key(Call{Description: desc, Category: "outbound", Status: "connected", Reason: app,
			Direction: "internal", Internal: true, From: from, To: code, Dialed: code}, from, hangupBy, "")
	}
	wrong := func(c Call, kv ...string) Call {
		if c.KnownWrong == nil {
			c.KnownWrong = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			c.KnownWrong[kv[i]] = kv[i+1]
		}
		return c
	}
	vm := func(c Call, left bool) Call { c.Voicemail = &answerkey.Voicemail{MessageLeft: left}; return c }

	return []Scenario{
		// --- Outbound, from a phone through the simulated carrier -------
		{Name: "outbound-connected", Calls: []Call{out("201 calls out; the far end answers after 1 s and hangs up after 2 s", "connected", "", "201", "95552001", "callee", "ANSWER")},
			run: phoneCall("201", "95552001", 0)},
		{Name: "outbound-canceled", Calls: []Call{out("202 calls out and hangs up after 2.5 s of ringing", "canceled", "CANCEL", "202", "95553001", "caller", "CANCEL")},
			run: phoneCall("202", "95553001", 2500*time.Millisecond)},
		{Name: "outbound-busy", Calls: []Call{out("203 calls a busy number", "canceled", "BUSY", "203", "95554001", "callee", "BUSY")},
			run: phoneCall("203", "95554001", 0)},
		{Name: "outbound-noanswer", Calls: []Call{wrong(out("204 calls out; nobody answers within the route's 5 s, the PBX hangs up", "canceled", "NOANSWER", "204", "95553002", "system", "NOANSWER"))},
			run: phoneCall("204", "95553002", 0)},
		{Name: "outbound-vmdrop-dialplan", Calls: []Call{wrong(out("205 calls an answering machine; the dialplan (Dial U(vm-drop)) plays callstatus/vm-drop to it and ends both legs (GOSUB_RESULT=ABORT)", "voicemail_dropped", "", "205", "75555001", "system", "ABORT"))},
			run: phoneCall("205", "75555001", 0)},
		{Name: "outbound-vmdrop-ari", Calls: []Call{wrong(out("206 calls an answering machine; the far leg enters Stasis(callstatus-lab,vmdrop) and the ARI app plays sound:callstatus/vm-drop, then hangs up", "voicemail_dropped", "", "206", "65555002", "system", "ANSWER"))},
			run: phoneCall("206", "65555002", 0)},
		// --- Click-to-call: the agent's phone first, then the customer --
		{Name: "click-to-call-connected", Calls: []Call{out("click-to-call: agent 256 answers, then the customer answers and hangs up after 2 s", "connected", "", "256", "95552002", "callee", "ANSWER")},
			run: clickToCall("256", "95552002", 10*time.Second)},
		{Name: "click-to-call-agent-noanswer", Calls: []Call{wrong(out("click-to-call: agent 361 never answers; the originate gives up after 4 s, the customer is never dialed", "canceled", "", "361", "95552003", "system", ""),
			"hangup.by", wrongNoSystem, "to", wrongC2CTo)},
			run: clickToCall("361", "95552003", 4*time.Second)},
		// --- Inbound, direct DIDs, ring groups, IVR ----------------------
		{Name: "inbound-answered", Calls: []Call{in("DID 800221 rings extension 221, which answers after 1 s and hangs up after 3 s", "answered", "", "15550001001", "800221", "221", "callee", "ANSWER")},
			run: inboundCall("15550001001", "800221", 30, 0)},
		{Name: "inbound-missed", Calls: []Call{wrong(in("DID 800321 rings extension 321 for 4 s, nobody answers, the PBX hangs up", "missed", "NOANSWER", "15550001002", "800321", "", "system", "NOANSWER"))},
			run: inboundCall("15550001002", "800321", 30, 0)},
		{Name: "inbound-missed-caller-hangup", Calls: []Call{in("DID 800322 rings extension 322; the caller hangs up after 2.5 s", "missed", "CANCEL", "15550001003", "800322", "", "caller", "CANCEL")},
			run: inboundCall("15550001003", "800322", 30, 2500*time.Millisecond)},
		{Name: "inbound-missed-busy", Calls: []Call{in("DID 800421: extension 421 is busy", "missed", "BUSY", "15550001004", "800421", "", "callee", "BUSY")},
			run: inboundCall("15550001004", "800421", 30, 0)},
		{Name: "inbound-missed-unavailable", Calls: []Call{wrong(in("DID 800103: PJSIP phone 103 is not registered, the PBX hangs up", "missed", "CHANUNAVAIL", "15550001005", "800103", "", "system", "CHANUNAVAIL"))},
			run: inboundCall("15550001005", "800103", 30, 0)},
		{Name: "inbound-missed-voicemail", Calls: []Call{vm(in("DID 810301 rings 301 for 4 s, then voicemail answers; the caller hangs up during the greeting (5 s), no message", "missed", "NOANSWER", "15550001006", "810301", "", "caller", "NOANSWER"), false)},
			run: inboundCall("15550001006", "810301", 5, 0)},
		{Name: "voicemail-message-left", Calls: []Call{vm(in("DID 810302 rings 302 for 4 s, then voicemail answers; the caller stays past the beep and leaves a message (hangs up after 25 s)", "missed", "NOANSWER", "15550001030", "810302", "", "caller", "NOANSWER"), true)},
			run: voicemailMessage("15550001030", "810302", "302", 25)},
		{Name: "ringgroup-answered", Calls: []Call{in("ring group 820001: 211 answers after 1 s (311 keeps ringing until then) and hangs up after 3 s", "answered", "", "15550001007", "820001", "211", "callee", "ANSWER")},
			run: inboundCall("15550001007", "820001", 30, 0)},
		{Name: "ringgroup-missed", Calls: []Call{wrong(in("ring group 820002: 312 never answers, 412 is busy; the PBX gives up after 4 s", "missed", "NOANSWER", "15550001008", "820002", "", "system", "NOANSWER"))},
			run: inboundCall("15550001008", "820002", 30, 0)},
		{Name: "ringgroup-caller-hangup", Calls: []Call{in("ring group 820003: 259 answers after 1 s (313 rings until then); the caller hangs up after 3 s of talk, 259 would talk 8 s", "answered", "", "15550001031", "820003", "259", "caller", "ANSWER")},
			run: inboundCall("15550001031", "820003", 3, 0)},
		{Name: "ivr-answered", Calls: []Call{in("IVR 830222: the PBX answers, plays a prompt, then rings 222 which answers and hangs up after 3 s", "answered", "", "15550001009", "830222", "222", "callee", "ANSWER")},
			run: inboundCall("15550001009", "830222", 30, 0)},
		{Name: "ivr-missed", Calls: []Call{wrong(in("IVR 830323: the PBX answers, plays a prompt, then rings 323 for 4 s; nobody answers, the PBX hangs up", "missed", "NOANSWER", "15550001010", "830323", "", "system", "NOANSWER"))},
			run: inboundCall("15550001010", "830323", 30, 0)},
		// --- Call center (app_queue) ------------------------------------
		{Name: "queue-handled", Calls: []Call{cc("queue support: agent 231 answers after 1 s (331 rings too) and hangs up after 3 s", "handled", "", "15550001011", "840001", "231", "callee", "ANSWER", "support")},
			run: inboundCall("15550001011", "840001", 30, 0)},
		{Name: "queue-abandoned", Calls: []Call{cc("queue sales: nobody answers, the caller hangs up after 3 s", "abandoned", "", "15550001012", "840002", "", "caller", "CANCEL", "sales")},
			run: inboundCall("15550001012", "840002", 3, 0)},
		{Name: "queue-timeout", Calls: []Call{wrong(cc("queue sales: the members ring 3 s unanswered, the queue gives up after 4 s and the PBX hangs up", "timeout", "TIMEOUT", "15550001013", "840003", "", "system", "NOANSWER", "sales"))},
			run: inboundCall("15550001013", "840003", 30, 0)},
		{Name: "queue-timeout-voicemail", Calls: []Call{wrong(vm(cc("queue sales times out after 4 s, then voicemail 500 answers; the caller hangs up during the greeting (9 s after the queue answered), no message", "timeout", "TIMEOUT", "15550001014", "840004", "", "caller", "NOANSWER", "sales"), false))},
			run: inboundCall("15550001014", "840004", 9, 0)},
		{Name: "queue-overflow-handled", Calls: []Call{cc("queue sales times out after 4 s, then queue overflow: agent 232 answers and hangs up after 3 s", "handled", "", "15550001015", "840005", "232", "callee", "ANSWER", "sales", "overflow")},
			run: inboundCall("15550001015", "840005", 30, 0)},
		{Name: "queue-joinempty", Calls: []Call{wrong(cc("queue empty has no members: Queue() returns at once and the PBX hangs up", "timeout", "JOINEMPTY", "15550001016", "840006", "", "system", "", "empty"))},
			run: inboundCall("15550001016", "840006", 30, 0)},
		// --- Internal ----------------------------------------------------
		{Name: "internal-call", Calls: []Call{key(Call{Description: "207 calls extension 224, which answers and hangs up after 3 s", Category: "outbound", Status: "connected",
			Direction: "internal", Internal: true, From: "207", To: "224", Dialed: "224"}, "207", "callee", "ANSWER")},
			run: phoneCall("207", "224", 0)},
		// --- Transfers of an answered inbound call -----------------------
		{Name: "transfer-blind", Calls: []Call{in("DID 800251: 251 answers, then blind-transfers the caller to 252 (AMI BlindTransfer), which answers and hangs up after 3 s", "answered", "", "15550001017", "800251", "251", "callee", "ANSWER")},
			run: blindTransfer},
		{Name: "transfer-attended", Calls: []Call{in("DID 800253: 253 answers, presses the attended-transfer code *2 and dials 254 (DTMF on its leg), hangs up once 254 answered to complete the transfer; 254 hangs up after 8 s", "answered", "", "15550001018", "800253", "253", "callee", "ANSWER")},
			run: attendedTransfer},
		// --- Feature codes: calls that run an application, dial nobody ---
		// (issue 10 point 5). A pickup or a parked-call retrieval joins
		// the call it answers, so it is no call of its own.
		{Name: "pickup-group", Calls: []Call{in("DID 850341 rings 341 (call group 1); 241 dials *8 (group pickup) and answers it, then hangs up after 3 s", "answered", "", "15550001032", "850341", "241", "callee", "ANSWER")},
			run: pickup("15550001032", "850341", "341", "241", "*8")},
		{Name: "pickup-directed", Calls: []Call{in("DID 851342 rings 342 (in no call group: a group pickup elsewhere cannot take it); 242 dials **342 (directed pickup) and answers it, then hangs up after 3 s", "answered", "", "15550001033", "851342", "242", "callee", "ANSWER")},
			run: pickup("15550001033", "851342", "342", "242", "**342")},
		{Name: "park-retrieve", Calls: []Call{wrong(in("DID 800257: 257 answers and parks the caller (blind transfer to 870); 243 dials the parking space (871) and retrieves the call, then hangs up after 3 s", "answered", "", "15550001034", "800257", "257", "callee", "ANSWER"))},
			run: parkRetrieve},
		{Name: "chanspy-queue", Description: "a queue call and a supervisor listening in on its agent", Calls: []Call{
			cc("queue spyq: agent 258 answers after 1 s and hangs up after 8 s", "handled", "", "15550001035", "840007", "258", "callee", "ANSWER", "spyq"),
			wrong(feature("supervisor 244 dials *555258: ChanSpy listens to agent 258's call; when it ends ChanSpy returns and the PBX hangs up", "244", "*555258", "ChanSpy", "system")),
		}, run: chanSpyQueue},
		{Name: "confbridge-dialin", Calls: []Call{feature("245 dials *800 into ConfBridge 800, alone, and hangs up after 4 s", "245", "*800", "ConfBridge", "caller")},
			run: featureCall("245", "*800", 4)},
		{Name: "voicemailmain-check", Calls: []Call{feature("302 dials *97 (VoiceMailMain for mailbox 302, no password) and hangs up after 4 s", "302", "*97", "VoiceMailMain", "caller")},
			run: featureCall("302", "*97", 4)},
		// --- Several calls at once ----------------------------------------
		{Name: "overlap", Description: "four calls at the same time", Calls: []Call{
			in("DID 800225 rings 225, which answers and hangs up after 3 s", "answered", "", "15550001020", "800225", "225", "callee", "ANSWER"),
			out("208 calls out; the far end answers and hangs up after 2 s", "connected", "", "208", "95552010", "callee", "ANSWER"),
			out("209 calls a busy number", "canceled", "BUSY", "209", "95554010", "callee", "BUSY"),
			cc("queue support (second line): agent 231 answers and hangs up after 3 s", "handled", "", "15550001021", "840011", "231", "callee", "ANSWER", "support"),
		}, run: func(ctx context.Context, d *Driver) error {
			g, ctx := errgroup.WithContext(ctx)
			g.Go(func() error { return inboundCall("15550001020", "800225", 30, 0)(ctx, d) })
			g.Go(func() error { return phoneCall("208", "95552010", 0)(ctx, d) })
			g.Go(func() error { return phoneCall("209", "95554010", 0)(ctx, d) })
			g.Go(func() error { return inboundCall("15550001021", "840011", 30, 0)(ctx, d) })
			return g.Wait()
		}},
		// --- Real SIP through PJSIP, SIPp inside the container ------------
		{Name: "sip-inbound-answered", SIP: true, Calls: []Call{in("SIP carrier calls DID 800102; SIP phone 102 answers after 1 s; the caller hangs up after 2 s", "answered", "", "15550002001", "800102", "102", "caller", "ANSWER")},
			run: sipCall(sipp{scenario: "uas-answer.xml", port: 5072}, sipp{scenario: "uac.xml", port: 5070, service: "800102", caller: "15550002001", pause: 2 * time.Second}, "PJSIP/trunk-")},
		{Name: "sip-inbound-missed", SIP: true, Calls: []Call{wrong(in("SIP carrier calls DID 800102; phone 102 rings for 4 s; the PBX gives up", "missed", "NOANSWER", "15550002002", "800102", "", "system", "NOANSWER"))},
			run: sipCall(sipp{scenario: "uas-ring.xml", port: 5072}, sipp{scenario: "uac.xml", port: 5070, service: "800102", caller: "15550002002"}, "PJSIP/trunk-")},
		{Name: "sip-transfer-refer", SIP: true, Calls: []Call{in("SIP carrier calls DID 800102; phone 102 answers after 1 s and 1 s later blind-transfers the caller with a REFER to 255 and leaves (BYE); 255 answers after 1 s; the caller hangs up 5 s after the answer, while 255 would talk 8 s", "answered", "", "15550002003", "800102", "102", "caller", "ANSWER")},
			run: sipCall(sipp{scenario: "uas-refer.xml", port: 5072, service: "255", extra: []string{"-aa"}}, sipp{scenario: "uac.xml", port: 5070, service: "800102", caller: "15550002003", pause: 5 * time.Second}, "PJSIP/trunk-")},
		{Name: "sip-transfer-attended", SIP: true, Description: "an attended transfer made on a SIP phone (REFER with Replaces) and its consultation call", Calls: []Call{
			in("SIP carrier calls DID 800102; phone 102 answers on line 1, calls 255 on line 2, then transfers with a REFER carrying Replaces for line 2 and leaves; the caller hangs up 6 s after the transfer, while 255 would talk 8 s", "answered", "", "15550002004", "800102", "102", "caller", "ANSWER"),
			wrong(key(Call{Description: "the consultation: phone 102 (line 2) calls 255, which answers after 1 s; the transfer replaces it and the PBX ends line 2", Category: "outbound", Status: "connected",
				Direction: "internal", Internal: true, From: "102", To: "255", Dialed: "255"}, "102", "system", "ANSWER"),
				answerkey.Missing, wrongReplacesCall),
		}, run: sipAttendedTransfer},
		{Name: "sip-outbound-connected", SIP: true, Calls: []Call{out("SIP phone 101 dials 05552101 via the SIP trunk; the far end answers; 101 hangs up after 2 s", "connected", "", "101", "05552101", "caller", "ANSWER")},
			run: sipCall(sipp{scenario: "uas-answer.xml", port: 5070}, sipp{scenario: "uac.xml", port: 5071, service: "05552101", caller: "101", pause: 2 * time.Second}, "PJSIP/101-")},
		{Name: "sip-outbound-busy", SIP: true, Calls: []Call{out("SIP phone 101 dials 05554101; the trunk answers 486 Busy Here", "canceled", "BUSY", "101", "05554101", "callee", "BUSY")},
			run: sipCall(sipp{scenario: "uas-busy.xml", port: 5070}, sipp{scenario: "uac.xml", port: 5071, service: "05554101", caller: "101"}, "PJSIP/101-")},
		{Name: "sip-outbound-canceled", SIP: true, Calls: []Call{out("SIP phone 101 dials 05553101 and sends CANCEL after 2 s of ringing", "canceled", "CANCEL", "101", "05553101", "caller", "CANCEL")},
			run: sipCall(sipp{scenario: "uas-ring.xml", port: 5070}, sipp{scenario: "uac-cancel.xml", port: 5071, service: "05553101", caller: "101", pause: 2 * time.Second}, "PJSIP/101-")},
		{Name: "sip-outbound-noanswer", SIP: true, Calls: []Call{wrong(out("SIP phone 101 dials 05553102; nobody answers within the route's 5 s, the PBX hangs up", "canceled", "NOANSWER", "101", "05553102", "system", "NOANSWER"))},
			run: sipCall(sipp{scenario: "uas-ring.xml", port: 5070}, sipp{scenario: "uac.xml", port: 5071, service: "05553102", caller: "101"}, "PJSIP/101-")},
	}
}

// Lookup finds a scenario by name.
func Lookup(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Run places the scenario's calls and returns once all their channels are
// gone.
func (d *Driver) Run(ctx context.Context, name string) error {
	s, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("lab: no scenario %q", name)
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := s.run(ctx, d); err != nil {
		return fmt.Errorf("lab: scenario %s: %w", name, err)
	}
	return nil
}

// phoneCall simulates a user's phone dialing `dialed` from [from-internal]:
// the originated Local channel's ;2 half runs the dialplan, the ;1 half is
// the phone (it stays up to 30 s once answered). giveUp > 0 hangs the phone
// up if the call is not answered by then.
func phoneCall(ext, dialed string, giveUp time.Duration) func(context.Context, *Driver) error {
	return func(ctx context.Context, d *Driver) error {
		w := d.track.watch("Local/" + dialed + "@from-internal-")
		if err := d.originate(ctx, originate{Channel: "Local/" + dialed + "@from-internal/n",
			CallerID: fmt.Sprintf("\"Phone %s\" <%s>", ext, ext), Application: "Wait", Data: "30", Timeout: giveUp}); err != nil {
			return err
		}
		return d.track.wait(ctx, w)
	}
}

// inboundCall simulates the carrier delivering a call to DID: the Local ;2
// half enters [from-external]; the ;1 half is the caller, who stays
// `patience` seconds once answered. giveUp > 0 hangs up while ringing.
func inboundCall(caller, did string, patience int, giveUp time.Duration) func(context.Context, *Driver) error {
	return func(ctx context.Context, d *Driver) error {
		w := d.track.watch("Local/" + did + "@from-external-")
		if err := d.originate(ctx, originate{Channel: "Local/" + did + "@from-external/n",
			CallerID: fmt.Sprintf("<%s>", caller), Application: "Wait", Data: fmt.Sprint(patience), Timeout: giveUp}); err != nil {
			return err
		}
		return d.track.wait(ctx, w)
	}
}

// clickToCall rings the agent's phone first; once it answers, the agent's
// channel goes to [from-internal] and dials the customer. The originator (a
// CRM) marks the call as outbound.
func clickToCall(agent, dialed string, ring time.Duration) func(context.Context, *Driver) error {
	return func(ctx context.Context, d *Driver) error {
		w := d.track.watch("Local/" + agent + "@lab-phones-")
		if err := d.originate(ctx, originate{Channel: "Local/" + agent + "@lab-phones/n",
			Context: "from-internal", Exten: dialed, CallerID: fmt.Sprintf("\"Agent %s\" <%s>", agent, agent),
			Timeout: ring, Vars: []string{"CALLSTATUS_DIRECTION=outbound"}}); err != nil {
			return err
		}
		return d.track.wait(ctx, w)
	}
}

// pause is scenario time (a phone user talking before pressing a key), not
// a wait for something to happen: those wait for events.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// answeredLeg waits, on the AMI events, for the answered ;1 half of phone
// ext (the channel Dial created) to sit in a bridge with a channel named
// peer*: only then does a transfer feature on it act on the call.
func (d *Driver) answeredLeg(ctx context.Context, w *watch, ext, peer string) (chanState, error) {
	return d.track.bridgedWith(ctx, w, "Local/"+ext+"@lab-phones-", ";1", peer)
}

func blindTransfer(ctx context.Context, d *Driver) error {
	w := d.track.watch("Local/800251@from-external-")
	if err := d.originate(ctx, originate{Channel: "Local/800251@from-external/n", CallerID: "<15550001017>",
		Application: "Wait", Data: "30"}); err != nil {
		return err
	}
	leg, err := d.answeredLeg(ctx, w, "251", "Local/800251@from-external-")
	if err != nil {
		return err
	}
	if err := pause(ctx, time.Second); err != nil { // talk a little before transferring
		return err
	}
	if _, err := d.ami.Action(ctx, "BlindTransfer", Field{"Channel", leg.Name},
		Field{"Context", "from-internal"}, Field{"Exten", "252"}); err != nil {
		return err
	}
	return d.track.wait(ctx, w)
}

// attendedTransfer: 253 answers; its phone presses the attended-transfer
// code (*2) and dials 254, which puts the caller on hold and calls 254 from
// [from-internal]; once 254 answered and talks with 253, 253 hangs up,
// which completes the transfer. Every step waits for its AMI events, so a
// loaded machine only makes the scenario slower (issue 11). The digits are
// played one at a time (PlayDTMF, received on 253's leg), each after the
// previous one reached the channel: AMI Atxfer queues the code and the
// number at once, and on a loaded machine Asterisk's DTMF emulation
// deferred the number's digits while the code was still being played out
// and lost them ("Dialed no digits", then no consultation at all).
func attendedTransfer(ctx context.Context, d *Driver) error {
	w := d.track.watch("Local/800253@from-external-")
	if err := d.originate(ctx, originate{Channel: "Local/800253@from-external/n", CallerID: "<15550001018>",
		Application: "Wait", Data: "30"}); err != nil {
		return err
	}
	leg, err := d.answeredLeg(ctx, w, "253", "Local/800253@from-external-")
	if err != nil {
		return err
	}
	if err := pause(ctx, time.Second); err != nil {
		return err
	}
	if _, err := d.ami.Action(ctx, "Setvar", Field{"Channel", leg.Name},
		Field{"Variable", "TRANSFER_CONTEXT"}, Field{"Value", "from-internal"}); err != nil {
		return err
	}
	if err := d.pressKeys(ctx, w, leg, "*2"); err != nil {
		return err
	}
	if _, err := d.track.channel(ctx, w, leg.Name, "", "on hold (the transfer started)", func(c chanState) bool { return c.Held }); err != nil {
		return fmt.Errorf("attended transfer code: %w", err)
	}
	if err := d.pressKeys(ctx, w, leg, "254"); err != nil {
		return err
	}
	// 254 answered (its leg is bridged with the consultation channel) and
	// the transferer is bridged with the consultation channel too.
	if _, err := d.answeredLeg(ctx, w, "254", "Local/254@from-internal-"); err != nil {
		return fmt.Errorf("transfer target: %w", err)
	}
	if _, err := d.track.bridgedWith(ctx, w, leg.Name, "", "Local/254@from-internal-"); err != nil {
		return fmt.Errorf("transferer in the consultation: %w", err)
	}
	if err := pause(ctx, 500*time.Millisecond); err != nil {
		return err
	}
	// The transferer hangs up: that completes an attended transfer.
	if _, err := d.ami.Action(ctx, "Hangup", Field{"Channel", leg.Name}); err != nil {
		return err
	}
	return d.track.wait(ctx, w)
}

// pressKeys plays digits into ch as if its phone pressed them, one digit
// at a time, each once the previous one was received (DTMFEnd).
func (d *Driver) pressKeys(ctx context.Context, w *watch, ch chanState, digits string) error {
	for _, k := range digits {
		before := d.track.dtmfIn(w, ch.UniqueID)
		if _, err := d.ami.Action(ctx, "PlayDTMF", Field{"Channel", ch.Name}, Field{"Digit", string(k)},
			Field{"Duration", "100"}, Field{"Receive", "yes"}); err != nil {
			return err
		}
		if _, err := d.track.channel(ctx, w, ch.Name, "", fmt.Sprintf("to receive DTMF %c", k),
			func(c chanState) bool { return c.DTMFIn > before }); err != nil {
			return err
		}
	}
	return nil
}

// voicemailMessage is an inbound call to a DID that falls through to
// voicemail; the caller stays patience seconds (past the greeting and the
// beep) and the scenario checks that Asterisk reported the new message
// (MessageWaiting for the mailbox), so the key's message_left is a fact.
func voicemailMessage(caller, did, mailbox string, patience int) func(context.Context, *Driver) error {
	return func(ctx context.Context, d *Driver) error {
		before := d.track.messages(mailbox + "@default")
		// The caller "speaks" (music on hold streams audio into the call):
		// voicemail keeps no message recorded from a silent channel.
		w := d.track.watch("Local/" + did + "@from-external-")
		if err := d.originate(ctx, originate{Channel: "Local/" + did + "@from-external/n",
			CallerID: fmt.Sprintf("<%s>", caller), Application: "MusicOnHold", Data: fmt.Sprintf("default,%d", patience)}); err != nil {
			return err
		}
		if err := d.track.wait(ctx, w); err != nil {
			return err
		}
		if err := d.track.until(ctx, func() (bool, string) {
			return d.track.mwi[mailbox+"@default"] > before, "MessageWaiting for " + mailbox + "@default"
		}); err != nil {
			return fmt.Errorf("no message left: %w", err)
		}
		return nil
	}
}

// pickup rings extension ext through a pickup DID; once its phone rings,
// phone picker dials code (a pickup feature code) and talks 3 s.
func pickup(caller, did, ext, picker, code string) func(context.Context, *Driver) error {
	return func(ctx context.Context, d *Driver) error {
		w := d.track.watch("Local/" + did + "@from-external-")
		if err := d.originate(ctx, originate{Channel: "Local/" + did + "@from-external/n",
			CallerID: fmt.Sprintf("<%s>", caller), Application: "Wait", Data: "30"}); err != nil {
			return err
		}
		if _, err := d.track.channel(ctx, w, "Local/"+ext+"@lab-phones-", ";1", "ringing",
			func(c chanState) bool { return c.State == "Ringing" }); err != nil {
			return err
		}
		pw := d.track.watch("Local/" + code + "@from-internal-")
		if err := d.originate(ctx, originate{Channel: "Local/" + code + "@from-internal/n",
			CallerID: fmt.Sprintf("\"Phone %s\" <%s>", picker, picker), Application: "Wait", Data: "3"}); err != nil {
			return err
		}
		return d.track.wait(ctx, w, pw)
	}
}

// parkRetrieve: 257 answers and parks the caller with a blind transfer to
// the parking extension; once the caller is parked, 243 dials the space
// it was given and talks 3 s.
func parkRetrieve(ctx context.Context, d *Driver) error {
	w := d.track.watch("Local/800257@from-external-")
	if err := d.originate(ctx, originate{Channel: "Local/800257@from-external/n", CallerID: "<15550001034>",
		Application: "Wait", Data: "30"}); err != nil {
		return err
	}
	leg, err := d.answeredLeg(ctx, w, "257", "Local/800257@from-external-")
	if err != nil {
		return err
	}
	if err := pause(ctx, time.Second); err != nil {
		return err
	}
	if _, err := d.ami.Action(ctx, "BlindTransfer", Field{"Channel", leg.Name},
		Field{"Context", "from-internal"}, Field{"Exten", "870"}); err != nil {
		return err
	}
	parked, err := d.track.channel(ctx, w, "Local/800257@from-external-", "", "parked",
		func(c chanState) bool { return c.Parked && c.ParkSpace != "" })
	if err != nil {
		return err
	}
	if err := pause(ctx, time.Second); err != nil { // the caller waits a moment in the lot
		return err
	}
	rw := d.track.watch("Local/" + parked.ParkSpace + "@from-internal-")
	if err := d.originate(ctx, originate{Channel: "Local/" + parked.ParkSpace + "@from-internal/n",
		CallerID: "\"Phone 243\" <243>", Application: "Wait", Data: "3"}); err != nil {
		return err
	}
	return d.track.wait(ctx, w, rw)
}

// chanSpyQueue: a queue call answered by agent 258; once the agent talks
// with the caller, supervisor 244 dials the ChanSpy code for 258.
func chanSpyQueue(ctx context.Context, d *Driver) error {
	w := d.track.watch("Local/840007@from-external-")
	if err := d.originate(ctx, originate{Channel: "Local/840007@from-external/n", CallerID: "<15550001035>",
		Application: "Wait", Data: "30"}); err != nil {
		return err
	}
	if _, err := d.answeredLeg(ctx, w, "258", "Local/840007@from-external-"); err != nil {
		return err
	}
	sw := d.track.watch("Local/*555258@from-internal-")
	if err := d.originate(ctx, originate{Channel: "Local/*555258@from-internal/n",
		CallerID: "\"Supervisor 244\" <244>", Application: "Wait", Data: "30"}); err != nil {
		return err
	}
	return d.track.wait(ctx, w, sw)
}

// featureCall: phone ext dials a feature code and hangs up after talk
// seconds.
func featureCall(ext, code string, talk int) func(context.Context, *Driver) error {
	return func(ctx context.Context, d *Driver) error {
		w := d.track.watch("Local/" + code + "@from-internal-")
		if err := d.originate(ctx, originate{Channel: "Local/" + code + "@from-internal/n",
			CallerID: fmt.Sprintf("\"Phone %s\" <%s>", ext, ext), Application: "Wait", Data: fmt.Sprint(talk)}); err != nil {
			return err
		}
		return d.track.wait(ctx, w)
	}
}

// sipp is one SIPp run inside the container.
type sipp struct {
	scenario string
	port     int
	service  string // request-URI user (uac)
	caller   string // From user (uac)
	pause    time.Duration
	extra    []string // more SIPp options (e.g. -aa: answer NOTIFYs)
}

func (s sipp) args() []string {
	a := []string{"sipp", "-sf", "/sipp/" + s.scenario, "-i", "127.0.0.1", "-p", fmt.Sprint(s.port),
		"-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error", "-mp", fmt.Sprint(20000 + 10*s.port%1000),
		"-trace_err", "-error_file", fmt.Sprintf("/tmp/sipp-%d.err", s.port)}
	a = append(a, s.extra...)
	if s.service != "" {
		a = append(a, "-s", s.service, "-key", "caller", s.caller, "-d", fmt.Sprint(s.pause.Milliseconds()), "127.0.0.1:5060")
	}
	return a
}

// sipCall starts the answering SIPp, then the calling one, and waits for
// both and for the call's channels (the first named with prefix) to end.
func sipCall(uas, uac sipp, prefix string) func(context.Context, *Driver) error {
	return func(ctx context.Context, d *Driver) error {
		if d.cfg.Container == "" {
			return fmt.Errorf("sip scenarios need the lab container name")
		}
		w := d.track.watch(prefix)
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error {
			out, err := docker(gctx, append([]string{"exec", d.cfg.Container}, uas.args()...)...)
			if err != nil {
				return fmt.Errorf("sipp %s: %w\n%s", uas.scenario, err, tail(out))
			}
			return nil
		})
		time.Sleep(500 * time.Millisecond) // let the uas bind its port
		g.Go(func() error {
			out, err := docker(gctx, append([]string{"exec", d.cfg.Container}, uac.args()...)...)
			if err != nil {
				return fmt.Errorf("sipp %s: %w\n%s", uac.scenario, err, tail(out))
			}
			return nil
		})
		if err := g.Wait(); err != nil {
			return err
		}
		return d.track.wait(ctx, w)
	}
}

// sipAttendedTransfer is an attended transfer made on a SIP phone: SIPp
// handles one Call-ID per scenario, so phone 102 is three SIPp runs. Line 1
// (uas-line1.xml) answers the carrier's call and writes its dialog's
// identity to a file; once it talks, line 2 (uac-line2.xml) calls 255 and
// writes its dialog's identity; once 255 answered, a third run
// (refer-replaces.xml) sends, in line 1's dialog, the REFER whose Refer-To
// carries Replaces for line 2, then line 1's BYE. The carrier
// (uac-transferee.xml) answers the re-INVITE the transfer brings and hangs
// up 6 s after it.
func sipAttendedTransfer(ctx context.Context, d *Driver) error {
	if d.cfg.Container == "" {
		return fmt.Errorf("sip scenarios need the lab container name")
	}
	if _, err := docker(ctx, "exec", d.cfg.Container, "rm", "-f", "/tmp/line1.dlg", "/tmp/255.dlg"); err != nil {
		return err
	}
	w := d.track.watch("PJSIP/trunk-")
	g, gctx := errgroup.WithContext(ctx)
	start := func(s sipp) {
		g.Go(func() error {
			out, err := docker(gctx, append([]string{"exec", d.cfg.Container}, s.args()...)...)
			if err != nil {
				return fmt.Errorf("sipp %s: %w\n%s", s.scenario, err, tail(out))
			}
			return nil
		})
	}
	start(sipp{scenario: "uas-line1.xml", port: 5072, service: "line1", pause: 10 * time.Second, extra: []string{"-aa"}})
	time.Sleep(500 * time.Millisecond) // let the uas bind its port
	start(sipp{scenario: "uac-transferee.xml", port: 5070, service: "800102", caller: "15550002004", extra: []string{"-aa"}})
	fail := func(err error) error {
		if werr := g.Wait(); werr != nil {
			return fmt.Errorf("%w (%v)", err, werr)
		}
		return err
	}
	if _, err := d.track.bridgedWith(ctx, w, "PJSIP/102-", "", "PJSIP/trunk-"); err != nil {
		return fail(fmt.Errorf("line 1: %w", err))
	}
	cw := d.track.watch("PJSIP/102-") // the consultation is a call of its own
	start(sipp{scenario: "uac-line2.xml", port: 5073, service: "255", caller: "102"})
	if _, err := d.track.bridgedWith(ctx, cw, "Local/255@lab-phones-", ";1", "PJSIP/102-"); err != nil {
		return fail(fmt.Errorf("line 2: %w", err))
	}
	a, err := d.dialogFile(ctx, "/tmp/line1.dlg", 4) // call-id, local To, remote From, remote contact
	if err != nil {
		return fail(err)
	}
	b, err := d.dialogFile(ctx, "/tmp/255.dlg", 3) // call-id, local tag, remote To
	if err != nil {
		return fail(err)
	}
	_, remoteTag, _ := strings.Cut(b[2], ";tag=")
	replaces := url.QueryEscape(b[0] + ";to-tag=" + remoteTag + ";from-tag=" + b[1])
	if err := pause(ctx, 500*time.Millisecond); err != nil {
		return fail(err)
	}
	refer := sipp{scenario: "refer-replaces.xml", port: 5074, extra: []string{"-cid_str", a[0],
		"-key", "from", a[1], "-key", "to", a[2], "-key", "ruri", a[3], "-key", "contact", "sip:102@127.0.0.1:5072",
		"-key", "referto", "sip:255@127.0.0.1:5060?Replaces=" + replaces, "127.0.0.1:5060"}}
	if out, err := docker(ctx, append([]string{"exec", d.cfg.Container}, refer.args()...)...); err != nil {
		return fail(fmt.Errorf("sipp %s: %w\n%s", refer.scenario, err, tail(out)))
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return d.track.wait(ctx, w, cw)
}

// dialogFile reads a dialog's identity that a SIPp run wrote (n lines) once
// it is complete. SIPp writes it right after the ACK; the caller waits for
// the call's AMI events first, so this rarely reads twice.
func (d *Driver) dialogFile(ctx context.Context, path string, n int) ([]string, error) {
	for {
		out, err := docker(ctx, "exec", d.cfg.Container, "cat", path)
		if err == nil {
			var lines []string
			for _, l := range strings.Split(strings.ReplaceAll(out, "\r", ""), "\n") {
				if l = strings.TrimSpace(l); l != "" {
					lines = append(lines, l)
				}
			}
			if len(lines) >= n {
				return lines, nil
			}
		}
		if err := pause(ctx, 100*time.Millisecond); err != nil {
			return nil, fmt.Errorf("sipp dialog %s: %w", path, err)
		}
	}
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}
