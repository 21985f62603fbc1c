package lab

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("lab: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartRestartableAsterisk starts a lab container for a test on host ports
// chosen up front, so that it keeps its AMI and ARI addresses across Kill
// and Restart (Docker gives a container published on port 0 new ports when
// it starts again). The container is removed when the test ends.
func StartRestartableAsterisk(t testing.TB) *Asterisk {
	t.Helper()
	amiPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ariPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	pgPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := Start(ctx, Options{AMIPort: amiPort, ARIPort: ariPort, PGPort: pgPort})
	if err != nil {
		t.Fatalf("start lab Asterisk: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if out, err := a.Exec("tail", "-n", "80", "/var/log/asterisk/full"); err == nil {
				t.Logf("asterisk log tail:\n%s", out)
			}
		}
		if err := a.Stop(context.Background()); err != nil {
			t.Errorf("stop lab Asterisk: %v", err)
		}
	})
	return a
}

// Kill ends Asterisk with SIGKILL, as a crash or a power cut would: no
// Hangup event reaches anybody, connections just drop.
func (a *Asterisk) Kill(ctx context.Context) error {
	if _, err := docker(ctx, "kill", a.Container); err != nil {
		return fmt.Errorf("lab: kill %s: %w", a.Container, err)
	}
	return nil
}

// Restart starts a killed or stopped container again and waits until AMI
// and ARI answer, within limit (60 s when 0).
func (a *Asterisk) Restart(ctx context.Context, limit time.Duration) error {
	if limit == 0 {
		limit = 60 * time.Second
	}
	if _, err := docker(ctx, "start", a.Container); err != nil {
		return fmt.Errorf("lab: start %s again: %w", a.Container, err)
	}
	before := a.AMIAddr + " " + a.ARIURL
	if err := a.waitReady(ctx, limit); err != nil {
		return fmt.Errorf("lab: %s not ready after restart: %w", a.Container, err)
	}
	if after := a.AMIAddr + " " + a.ARIURL; after != before {
		return fmt.Errorf("lab: %s moved from %s to %s on restart", a.Container, before, after)
	}
	return nil
}

// AddTalkingPhone defines (until the next restart) a simulated phone ext in
// [lab-phones] that rings 1 s, answers and talks for talk before hanging up:
// DID 800<ext> then gives an inbound call that stays answered that long.
// ext must be a 2XX number, so [dial-user] rings it as a lab phone.
func (a *Asterisk) AddTalkingPhone(ext string, talk time.Duration) error {
	steps := []string{"Ringing()", "Wait(1)", "Answer()", fmt.Sprintf("Wait(%d)", int(talk.Seconds())), "Hangup()"}
	for i, app := range steps {
		cmd := fmt.Sprintf("dialplan add extension %s,%d,%s into lab-phones replace", ext, i+1, app)
		if out, err := a.CLI(cmd); err != nil {
			return fmt.Errorf("lab: %s: %w: %s", cmd, err, out)
		}
	}
	return nil
}
