package integration

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callstatus/callstatus/ami"
	"github.com/callstatus/callstatus/lab"
)

// The AMI site check against the real Asterisk: an account whose read=
// lacks dialplan and whose eventfilter hides DialEnd (added to the lab's
// manager.conf and reloaded) gets both named, with what to change, after
// five calls.
func TestSiteCheckAgainstLab(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: needs Docker")
	}
	a := lab.StartAsterisk(t)
	const user = `
[sitecheck]
secret = sitecheck-secret
read = system,call,agent,user
write = reporting
writetimeout = 5000
eventfilter = !Event: DialEnd
`
	if out, err := a.Exec("sh", "-c", "cat >> /etc/asterisk/manager.conf <<'EOF'"+user+"EOF"); err != nil {
		t.Fatalf("add the account: %v: %s", err, out)
	}
	if out, err := a.CLI("manager reload"); err != nil {
		t.Fatalf("manager reload: %v: %s", err, out)
	}
	if out, _ := a.CLI("manager show user sitecheck"); !strings.Contains(out, "sitecheck") {
		t.Fatalf("the account is not there:\n%s", out)
	}

	src := ami.NewSource(ami.Config{Address: a.AMIAddr, Username: "sitecheck", Password: "sitecheck-secret", DialTimeout: 5 * time.Second}, testLog(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := src.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	read := make(chan error, 1)
	go func() {
		for {
			if _, err := src.Next(ctx); err != nil {
				read <- err
				return
			}
		}
	}()
	if w := src.Warnings(); len(w) != 0 {
		t.Errorf("warnings before any call: %q", w)
	}

	drv, err := lab.NewDriver(ctx, lab.DriverConfig{Container: a.Container, AMIAddr: a.AMIAddr, ARIURL: a.ARIURL, Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	want := []string{
		"no dialplan events in 5 calls: add dialplan to read= of [sitecheck] in manager.conf, or drop the eventfilter that hides them (VarSet, Newexten: the direction variable, QUEUESTATUS, voicemail drops)",
		"DialBegin arrives but DialEnd never does (5 calls): an eventfilter on [sitecheck] in manager.conf hides it",
	}
	for _, name := range []string{"overlap", "inbound-answered", "outbound-connected"} {
		if err := drv.Run(ctx, name); err != nil {
			t.Fatal(err)
		}
		if slices.Equal(src.Warnings(), want) {
			break
		}
	}
	if !waitFor(t, 20*time.Second, "site check warnings", func() bool { return slices.Equal(src.Warnings(), want) }) {
		t.Logf("warnings:\n got %q\nwant %q", src.Warnings(), want)
	}
	select {
	case err := <-read:
		t.Errorf("the session ended: %v", err)
	default:
	}
}
