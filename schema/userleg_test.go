package schema

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/callstatus/callstatus/mapping"
)

// The per-user message's schema names every field of mapping.UserLeg
// (required = not omitempty) and accepts what UserLegs derives from a
// full status.
func TestUserLegSchemaMatchesUserLeg(t *testing.T) {
	s, err := LoadUserLeg()
	if err != nil {
		t.Fatal(err)
	}
	all, required := jsonKeys(reflect.TypeOf(mapping.UserLeg{}))
	if props := s.Properties(); !slices.Equal(all, props) {
		t.Errorf("struct keys %v\nschema properties %v", all, props)
	}
	if got := sorted(s.Required()); !slices.Equal(got, required) {
		t.Errorf("schema required %v, struct non-omitempty %v", got, required)
	}
	cs := full()
	t0 := cs.Start
	cs.Legs = append(cs.Legs, mapping.Leg{Channel: "Local/101@phones-00000003;1", Queue: "sales", Outcome: "answered_elsewhere", RingStart: &t0},
		mapping.Leg{Channel: "PJSIP/102-00000004", Outcome: "busy", RingStart: &t0, RingEnd: &t0},
		mapping.Leg{Channel: "PJSIP/103-00000005", Outcome: "noanswer"})
	legs := mapping.Config{}.UserLegs(cs)
	if len(legs) != 4 {
		t.Fatalf("%d user legs from %d legs", len(legs), len(cs.Legs))
	}
	for _, u := range legs {
		b, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(b); err != nil {
			t.Errorf("user %s: %v\n%s", u.Extension, err, b)
		}
	}
	for name, tc := range map[string]struct {
		edit func(m map[string]any)
		want string
	}{
		"unknown outcome": {func(m map[string]any) { m["outcome"] = "lost" }, "/outcome: lost not one of"},
		"no extension":    {func(m map[string]any) { m["extension"] = "" }, "/extension: shorter than 1"},
		"bad ring start":  {func(m map[string]any) { m["ring_start"] = "then" }, "/ring_start: not a date-time"},
	} {
		t.Run(name, func(t *testing.T) {
			b, _ := json.Marshal(legs[0])
			var m map[string]any
			json.Unmarshal(b, &m)
			tc.edit(m)
			b, _ = json.Marshal(m)
			if err := s.Validate(b); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
