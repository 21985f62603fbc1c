package schema

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/callstatus/callstatus/mapping"
)

// full is a CallStatus with every field set, so omitempty hides nothing.
func full() mapping.CallStatus {
	t0 := time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)
	t1 := t0.Add(4 * time.Second)
	return mapping.CallStatus{
		Schema: mapping.SchemaVersion, CallID: "pbx1:1764064800.1", LinkedID: "1764064800.1", PBX: "pbx1",
		Category: mapping.Callcenter, Status: mapping.Handled, Reason: "agent connected", Internal: true,
		Direction: "inbound", DialStatus: "ANSWER", QueueStatus: "CONTINUE",
		Hangup: mapping.Hangup{Cause: 16, Text: "Normal Clearing", By: "caller"},
		From:   mapping.Party{Number: "+15550001", Name: "Bob", Channel: "PJSIP/trunk-1", Endpoint: "PJSIP/trunk"},
		To:     mapping.Party{Number: "500", Name: "Sales", Channel: "Local/500@queues", Endpoint: "PJSIP/100"},
		Agent:  &mapping.Party{Number: "100", Name: "Alice", Channel: "PJSIP/100-2", Endpoint: "PJSIP/100"},
		Queues: []mapping.QueueVisit{{Queue: "sales", Join: t0, Leave: &t1, Position: 1, QueueStatus: "CONTINUE", Abandoned: true, Agent: "PJSIP/100", WaitSeconds: 4}},
		Legs:   []mapping.Leg{{Channel: "PJSIP/100-2", Endpoint: "PJSIP/100", Queue: "sales", Outcome: "answered", DialStatus: "ANSWER", RingStart: &t0, Answer: &t1}},
		Start:  t0, Answer: &t1, End: t1.Add(time.Minute), RingSeconds: 4, WaitSeconds: 4, TalkSeconds: 60,
		Voicemail: &mapping.Voicemail{Box: "100@default", Reached: true, MessageLeft: true, Seconds: 12.5}, IVR: true, VMDropMedia: "sound:vm-drop", Transferred: "blind",
		Channels: []string{"PJSIP/trunk-1", "PJSIP/100-2"}, UniqueIDs: []string{"1.1", "1.2"}, Incomplete: true, JoinedLate: true, Inferred: "answer",
		Evidence: mapping.Evidence{Rule: "queue.agent_connect", Events: []string{"ami#3"}},
	}
}

// jsonKeys lists the JSON names of a struct type's fields.
func jsonKeys(t reflect.Type) (all, required []string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		all = append(all, name)
		if opts != "omitempty" && f.Type.Kind() != reflect.Pointer {
			required = append(required, name)
		}
	}
	sort.Strings(all)
	sort.Strings(required)
	return all, required
}

func TestSchemaMatchesCallStatus(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(full())
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatal(err)
	}
	props := s.Properties()
	for k := range top {
		if !slices.Contains(props, k) {
			t.Errorf("JSON key %q is not in the schema's properties", k)
		}
	}
	for _, r := range s.Required() {
		if _, ok := top[r]; !ok {
			t.Errorf("required %q is not in the marshalled CallStatus", r)
		}
	}
	all, required := jsonKeys(reflect.TypeOf(mapping.CallStatus{}))
	if !slices.Equal(all, props) {
		t.Errorf("struct keys %v\nschema properties %v", all, props)
	}
	if got := append([]string(nil), s.Required()...); !slices.Equal(sorted(got), required) {
		t.Errorf("schema required %v, struct non-omitempty %v", sorted(got), required)
	}
	if err := s.Validate(body); err != nil {
		t.Errorf("full CallStatus: %v", err)
	}
	// The zero-ish status the engine could emit with only required fields.
	minimal, _ := json.Marshal(mapping.CallStatus{Schema: mapping.SchemaVersion, CallID: "p:1", Category: mapping.Inbound, Status: mapping.Missed, Direction: "inbound", Channels: []string{}, UniqueIDs: []string{}})
	if err := s.Validate(minimal); err != nil {
		t.Errorf("minimal CallStatus: %v", err)
	}
}

func sorted(s []string) []string { sort.Strings(s); return s }

func TestValidateRejects(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		edit func(m map[string]any)
		want string
	}{
		"unknown status":    {func(m map[string]any) { m["status"] = "busy" }, "/status: busy not one of"},
		"unknown key":       {func(m map[string]any) { m["extra"] = 1 }, `property "extra" not in schema`},
		"missing call_id":   {func(m map[string]any) { delete(m, "call_id") }, `required "call_id" missing`},
		"bad time":          {func(m map[string]any) { m["start"] = "yesterday" }, "/start: not a date-time"},
		"wrong schema":      {func(m map[string]any) { m["schema"] = 1 }, "/schema: must be 2"},
		"negative talk":     {func(m map[string]any) { m["talk_seconds"] = -1 }, "below minimum"},
		"empty leg outcome": {func(m map[string]any) { m["legs"].([]any)[0].(map[string]any)["outcome"] = "" }, "/legs/0/outcome: shorter than 1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, _ := json.Marshal(full())
			var m map[string]any
			json.Unmarshal(b, &m)
			tc.edit(m)
			b, _ = json.Marshal(m)
			err := s.Validate(b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
