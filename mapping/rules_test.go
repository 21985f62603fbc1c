package mapping

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The README's status table and the rule table in rules.go say the same:
// every rule id is in the README on the row of its category and status,
// and the README names no rule the code lacks.
func TestREADMERuleTableMatchesCode(t *testing.T) {
	body, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	idRE := regexp.MustCompile("`((?:outbound|inbound|callcenter)\\.[a-z_]+\\.[a-z_]+)`")
	type row struct{ category, status string }
	inREADME := map[RuleID]row{}
	for _, line := range strings.Split(string(body), "\n") {
		cols := strings.Split(line, "|")
		if len(cols) < 5 {
			continue
		}
		r := row{strings.TrimSpace(cols[1]), strings.Trim(strings.TrimSpace(cols[2]), "`")}
		for _, m := range idRE.FindAllStringSubmatch(cols[3], -1) {
			inREADME[RuleID(m[1])] = r
		}
	}
	var ids []RuleID
	for _, r := range Rules() {
		ids = append(ids, r.ID)
		got, ok := inREADME[r.ID]
		switch {
		case !ok:
			t.Errorf("README's status table lacks rule %s (%s/%s)", r.ID, r.Category, r.Status)
		case got.category != string(r.Category) || got.status != string(r.Status):
			t.Errorf("README puts rule %s on row %s/%s; the code says %s/%s", r.ID, got.category, got.status, r.Category, r.Status)
		}
	}
	for id := range inREADME {
		if !slices.Contains(ids, id) {
			t.Errorf("README names rule %s, which the code does not have", id)
		}
	}
}

// Within each category the last rule always holds, so every call gets a
// status, and every status of the seed has a rule.
func TestEveryCallGetsARule(t *testing.T) {
	last := map[Category]rule{}
	statuses := map[Status]bool{}
	for _, r := range rules {
		last[r.category] = r
		statuses[r.status] = true
	}
	for cat, r := range last {
		if !r.when(&facts{}) {
			t.Errorf("the last %s rule (%s) does not always hold", cat, r.id)
		}
	}
	for _, s := range Statuses {
		if !statuses[s] {
			t.Errorf("no rule gives %s", s)
		}
	}
}
