// Package lab runs the Asterisk lab (a Docker container built by
// `make asterisk-image`), drives scenario calls through it, and records the
// AMI and ARI streams those calls produce. It uses the docker CLI through
// os/exec: the lab needs nothing but a working `docker` command.
package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Lab credentials, as in asterisk-conf/manager.conf and ari.conf.
const (
	// DaemonUser is the callstatus daemon's AMI and ARI account (read only).
	DaemonUser = "callstatus"
	DaemonPass = "callstatus-secret"
	// DriverUser is the scenario driver's account (originate, transfer, play).
	DriverUser = "labdriver"
	DriverPass = "labdriver-secret"
	// CELUser is the daemon's PostgreSQL account in the lab (SELECT on the
	// CEL table cel_pgsql writes; docker/asterisk/pg-init.sh).
	CELUser = "callstatus"
	CELPass = "callstatus-secret"
	// CELDatabase holds the CEL table.
	CELDatabase = "asterisk"
	// DriverApp is the ARI application the driver registers (Stasis() in
	// asterisk-conf/extensions.conf).
	DriverApp = "callstatus-lab"
	// DefaultImage is the lab image `make asterisk-image` builds.
	DefaultImage = "callstatus/asterisk:lab"
)

// Options configures Start.
type Options struct {
	// Image defaults to $CALLSTATUS_ASTERISK_IMAGE, then DefaultImage.
	Image string
	// Name is the container name; default "callstatus-lab-<random>".
	Name string
	// AMIPort, ARIPort and PGPort are the host ports on 127.0.0.1; 0 picks
	// free ones.
	AMIPort, ARIPort, PGPort int
	// LogDir, when set, is a host directory mounted as Asterisk's log
	// directory (/var/log/asterisk): its queue_log is then a file the
	// daemon on the host reads, as beside a real PBX. Made writable for
	// the container's asterisk user.
	LogDir string
	// Ready bounds the wait for Asterisk to boot; default 60 s.
	Ready  time.Duration
	Logger *slog.Logger
}

// Asterisk is a running lab container.
type Asterisk struct {
	Container string
	// AMIAddr is host:port of AMI; ARIURL is the HTTP base (no /ari suffix).
	AMIAddr string
	ARIURL  string
	// PGAddr is host:port of the container's PostgreSQL (CEL); PGDSN the
	// daemon's read-only connection string to it.
	PGAddr string
	PGDSN  string
	// Daemon* are the callstatus daemon's credentials, Driver* the driver's.
	DaemonUser, DaemonPass string
	DriverUser, DriverPass string
	log                    *slog.Logger
}

// Start runs the lab image and waits until AMI accepts a login and ARI
// answers. It builds nothing: the image must exist (make asterisk-image).
func Start(ctx context.Context, opts Options) (*Asterisk, error) {
	if opts.Image == "" {
		opts.Image = os.Getenv("CALLSTATUS_ASTERISK_IMAGE")
	}
	if opts.Image == "" {
		opts.Image = DefaultImage
	}
	if opts.Name == "" {
		var b [4]byte
		rand.Read(b[:])
		opts.Name = "callstatus-lab-" + hex.EncodeToString(b[:])
	}
	if opts.Ready == 0 {
		opts.Ready = 60 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := docker(ctx, "version", "--format", "{{.Server.Version}}"); err != nil {
		return nil, fmt.Errorf("lab: docker unreachable: %w", err)
	}
	if _, err := docker(ctx, "image", "inspect", "--format", "{{.Id}}", opts.Image); err != nil {
		return nil, fmt.Errorf("lab: image %s missing (run `make asterisk-image`): %w", opts.Image, err)
	}
	port := func(p int) string {
		if p == 0 {
			return ""
		}
		return fmt.Sprint(p)
	}
	args := []string{"run", "-d", "--name", opts.Name,
		"-p", "127.0.0.1:" + port(opts.AMIPort) + ":5038",
		"-p", "127.0.0.1:" + port(opts.ARIPort) + ":8088",
		"-p", "127.0.0.1:" + port(opts.PGPort) + ":5432"}
	if opts.LogDir != "" {
		if err := os.MkdirAll(opts.LogDir, 0o777); err != nil {
			return nil, fmt.Errorf("lab: log dir: %w", err)
		}
		if err := os.Chmod(opts.LogDir, 0o777); err != nil {
			return nil, fmt.Errorf("lab: log dir: %w", err)
		}
		args = append(args, "-v", opts.LogDir+":/var/log/asterisk")
	}
	if _, err := docker(ctx, append(args, opts.Image)...); err != nil {
		return nil, fmt.Errorf("lab: run %s: %w", opts.Image, err)
	}
	a := &Asterisk{Container: opts.Name, DaemonUser: DaemonUser, DaemonPass: DaemonPass,
		DriverUser: DriverUser, DriverPass: DriverPass, log: log}
	if err := a.waitReady(ctx, opts.Ready); err != nil {
		logs, _ := docker(context.Background(), "logs", "--tail", "30", opts.Name)
		a.Stop(context.Background())
		return nil, fmt.Errorf("lab: %s not ready: %w\n%s", opts.Name, err, logs)
	}
	log.Info("lab asterisk up", "container", a.Container, "ami", a.AMIAddr, "ari", a.ARIURL, "pg", a.PGAddr)
	return a, nil
}

// Attach describes an already running lab (e.g. `make lab-up`) without
// starting anything. Its PostgreSQL address is asked from docker when the
// container publishes one.
func Attach(container, amiAddr, ariURL string) *Asterisk {
	a := &Asterisk{Container: container, AMIAddr: amiAddr, ARIURL: strings.TrimRight(ariURL, "/"),
		DaemonUser: DaemonUser, DaemonPass: DaemonPass, DriverUser: DriverUser, DriverPass: DriverPass,
		log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := docker(ctx, "port", container, "5432/tcp"); err == nil {
		a.setPG(strings.TrimSpace(strings.SplitN(out, "\n", 2)[0]))
	}
	return a
}

func (a *Asterisk) setPG(addr string) {
	a.PGAddr = addr
	a.PGDSN = fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", CELUser, CELPass, addr, CELDatabase)
}

func (a *Asterisk) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	hostPort := func(p string) (string, error) {
		out, err := docker(ctx, "port", a.Container, p)
		if err != nil {
			return "", err
		}
		// One line per address family; we published 127.0.0.1 only.
		return strings.TrimSpace(strings.SplitN(out, "\n", 2)[0]), nil
	}
	ami, err := hostPort("5038/tcp")
	if err != nil {
		return fmt.Errorf("find AMI port: %w", err)
	}
	ari, err := hostPort("8088/tcp")
	if err != nil {
		return fmt.Errorf("find ARI port: %w", err)
	}
	pg, err := hostPort("5432/tcp")
	if err != nil {
		return fmt.Errorf("find PostgreSQL port: %w", err)
	}
	a.AMIAddr, a.ARIURL = ami, "http://"+ari
	a.setPG(pg)
	var last error
	for {
		if last = a.ping(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// ping checks that Asterisk is fully booted and both interfaces answer.
func (a *Asterisk) ping(ctx context.Context) error {
	if out, err := a.ExecContext(ctx, "asterisk", "-rx", "core waitfullybooted"); err != nil {
		return fmt.Errorf("waitfullybooted: %w: %s", err, out)
	}
	c, err := DialAMI(ctx, a.AMIAddr, a.DaemonUser, a.DaemonPass)
	if err != nil {
		return err
	}
	c.Close()
	req, err := http.NewRequestWithContext(ctx, "GET", a.ARIURL+"/ari/asterisk/info", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(a.DaemonUser, a.DaemonPass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ari: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ari: GET /ari/asterisk/info: %s", resp.Status)
	}
	return nil
}

// Stop removes the container.
func (a *Asterisk) Stop(ctx context.Context) error {
	if _, err := docker(ctx, "rm", "-f", a.Container); err != nil {
		return fmt.Errorf("lab: remove %s: %w", a.Container, err)
	}
	return nil
}

// Exec runs a command inside the container (30 s limit) and returns its
// combined output.
func (a *Asterisk) Exec(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return a.ExecContext(ctx, args...)
}

// ExecContext is Exec bounded by ctx.
func (a *Asterisk) ExecContext(ctx context.Context, args ...string) (string, error) {
	return docker(ctx, append([]string{"exec", a.Container}, args...)...)
}

// CLI runs one Asterisk CLI command (asterisk -rx).
func (a *Asterisk) CLI(cmd string) (string, error) {
	return a.Exec("asterisk", "-rx", cmd)
}

func docker(ctx context.Context, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("docker %s: %w: %s", args[0], err, strings.TrimSpace(out.String()))
		} else {
			err = fmt.Errorf("docker %s: %w", args[0], err)
		}
	}
	return out.String(), err
}

// StartAsterisk starts a lab container for a test and removes it when the
// test ends. Docker being unreachable fails the test: integration tests are
// skipped only by -short.
func StartAsterisk(t testing.TB) *Asterisk {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := Start(ctx, Options{})
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
