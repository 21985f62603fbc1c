package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/callstatus/callstatus/lab/answerkey"
)

// RecordConfig says where the streams come from. Use the daemon's account
// (DaemonUser) so a recording holds exactly what the daemon will see.
type RecordConfig struct {
	AMIAddr, AMIUser, AMIPass string
	ARIURL, ARIUser, ARIPass  string
	// App is the ARI application name to register; the websocket subscribes
	// to all channels (subscribeAll), as the daemon does.
	App string
	// Container, when set, is the lab container whose CEL table and
	// queue_log file RecordScenario also exports (NAME.cel.csv,
	// NAME.queue_log): what Asterisk itself recorded of the scenario.
	Container string
}

// Recording is a running capture of one AMI and one ARI stream to
// NAME.ami and NAME.ari.jsonl.
type Recording struct {
	amiConn net.Conn
	ws      *websocket.Conn
	files   []*os.File
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	errs    []error
}

// StartRecording logs in to AMI with events on and connects the ARI event
// websocket, then copies both streams verbatim until Stop: AMI bytes exactly
// as received after the banner line (starting with the login response), ARI
// messages one JSON document per line.
func StartRecording(ctx context.Context, cfg RecordConfig, namePrefix string) (*Recording, error) {
	amiFile, err := os.Create(namePrefix + ".ami")
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	ariFile, err := os.Create(namePrefix + ".ari.jsonl")
	if err != nil {
		amiFile.Close()
		return nil, fmt.Errorf("record: %w", err)
	}
	rec := &Recording{files: []*os.File{amiFile, ariFile}}
	fail := func(err error) (*Recording, error) {
		rec.close()
		return nil, fmt.Errorf("record: %w", err)
	}

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", cfg.AMIAddr)
	if err != nil {
		return fail(fmt.Errorf("ami: dial %s: %w", cfg.AMIAddr, err))
	}
	rec.amiConn = conn
	r := bufio.NewReaderSize(conn, 1<<16)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := amiLogin(conn, r, cfg.AMIUser, cfg.AMIPass, true, amiFile); err != nil {
		return fail(err)
	}
	conn.SetDeadline(time.Time{})

	ws, err := dialARIEvents(ctx, cfg.ARIURL, cfg.ARIUser, cfg.ARIPass, cfg.App, true)
	if err != nil {
		return fail(err)
	}
	ws.SetReadLimit(1 << 22)
	rec.ws = ws

	lctx, cancel := context.WithCancel(context.Background())
	rec.cancel = cancel
	rec.wg.Add(2)
	go func() {
		defer rec.wg.Done()
		// Whatever bufio already holds, then the socket, byte for byte.
		if _, err := io.Copy(amiFile, r); err != nil && lctx.Err() == nil {
			rec.fail(fmt.Errorf("ami stream: %w", err))
		}
	}()
	go func() {
		defer rec.wg.Done()
		for {
			_, msg, err := ws.Read(lctx)
			if err != nil {
				if lctx.Err() == nil {
					rec.fail(fmt.Errorf("ari stream: %w", err))
				}
				return
			}
			if bytes.ContainsAny(msg, "\r\n") {
				// Asterisk with pretty=no sends one line already; keep the
				// one-document-per-line promise if it ever does not.
				var b bytes.Buffer
				if json.Compact(&b, msg) == nil {
					msg = b.Bytes()
				}
			}
			if _, err := ariFile.Write(append(msg, '\n')); err != nil {
				rec.fail(fmt.Errorf("ari file: %w", err))
				return
			}
		}
	}()
	return rec, nil
}

func (r *Recording) fail(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *Recording) close() {
	if r.ws != nil {
		r.ws.Close(websocket.StatusNormalClosure, "")
	}
	if r.amiConn != nil {
		r.amiConn.Close()
	}
	for _, f := range r.files {
		f.Close()
	}
}

// Stop ends the capture and closes the files. It reports any stream error
// seen while recording.
func (r *Recording) Stop() error {
	r.cancel()
	if r.ws != nil {
		r.ws.Close(websocket.StatusNormalClosure, "")
	}
	r.amiConn.Close()
	r.wg.Wait()
	var errs []error
	r.mu.Lock()
	errs = append(errs, r.errs...)
	r.mu.Unlock()
	for _, f := range r.files {
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Record captures both streams to namePrefix.ami and namePrefix.ari.jsonl
// until ctx ends.
func Record(ctx context.Context, amiAddr, amiUser, amiPass, ariURL, ariUser, ariPass, app, namePrefix string) error {
	rec, err := StartRecording(ctx, RecordConfig{AMIAddr: amiAddr, AMIUser: amiUser, AMIPass: amiPass,
		ARIURL: ariURL, ARIUser: ariUser, ARIPass: ariPass, App: app}, namePrefix)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return rec.Stop()
}

// Manifest is the answer key stored next to a recording.
type Manifest struct {
	Scenario    string `json:"scenario"`
	Description string `json:"description,omitempty"`
	Asterisk    string `json:"asterisk,omitempty"`
	// Recorded with these accounts' privileges (the daemon's).
	AMIUser string `json:"ami_user"`
	ARIUser string `json:"ari_user"`
	ARIApp  string `json:"ari_app"`
	Calls   []Call `json:"calls"`
	// KnownExtra: statuses the engine publishes today that are no call of
	// the scenario (see answerkey.Extra).
	KnownExtra []answerkey.Extra `json:"known_extra,omitempty"`
}

// RecordScenario waits for Asterisk to be idle, records while the scenario
// runs, lets trailing events arrive, and writes NAME.ami, NAME.ari.jsonl and
// NAME.manifest.json under dir.
func RecordScenario(ctx context.Context, d *Driver, cfg RecordConfig, dir, name, version string) error {
	s, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("record: no scenario %q", name)
	}
	if err := d.WaitIdle(ctx, 60*time.Second); err != nil {
		return fmt.Errorf("record %s: %w", name, err)
	}
	prefix := dir + "/" + name
	var mark recordsMark
	if cfg.Container != "" {
		var err error
		if mark, err = markRecords(ctx, cfg.Container); err != nil {
			return fmt.Errorf("record %s: %w", name, err)
		}
	}
	rec, err := StartRecording(ctx, cfg, prefix)
	if err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond) // the login's FullyBooted, before the call
	runErr := d.Run(ctx, name)
	time.Sleep(1500 * time.Millisecond) // Hangup/ChannelDestroyed trail the channel's removal
	stopErr := rec.Stop()
	if err := errors.Join(runErr, stopErr); err != nil {
		return fmt.Errorf("record %s: %w", name, err)
	}
	if cfg.Container != "" {
		if err := exportRecords(ctx, cfg.Container, prefix, mark); err != nil {
			return fmt.Errorf("record %s: %w", name, err)
		}
	}
	desc := s.Description
	if desc == "" && len(s.Calls) == 1 {
		desc = s.Calls[0].Description
	}
	m := Manifest{Scenario: s.Name, Description: desc, Asterisk: version, AMIUser: cfg.AMIUser,
		ARIUser: cfg.ARIUser, ARIApp: cfg.App, Calls: s.Calls, KnownExtra: s.KnownExtra}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(prefix+".manifest.json", append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("record %s: %w", name, err)
	}
	return nil
}

// QueueLogPath is where the lab's Asterisk writes queue_log
// (asterisk-conf/logger.conf).
const QueueLogPath = "/var/log/asterisk/queue_log"

// recordsMark is how far Asterisk's own records went before a scenario: the
// last CEL row id and the queue_log file's size.
type recordsMark struct {
	celID    int64
	queueLog int64
}

func markRecords(ctx context.Context, container string) (recordsMark, error) {
	var m recordsMark
	out, err := docker(ctx, "exec", "-u", "postgres", container, "psql", "-d", CELDatabase, "-Atc",
		"select coalesce(max(id), 0) from cel")
	if err != nil {
		return m, fmt.Errorf("cel: last row id: %w", err)
	}
	if _, err := fmt.Sscan(out, &m.celID); err != nil {
		return m, fmt.Errorf("cel: last row id %q: %w", out, err)
	}
	out, err = docker(ctx, "exec", container, "sh", "-c", "stat -c %s "+QueueLogPath+" 2>/dev/null || echo 0")
	if err != nil {
		return m, fmt.Errorf("queue_log: size: %w", err)
	}
	if _, err := fmt.Sscan(out, &m.queueLog); err != nil {
		return m, fmt.Errorf("queue_log: size %q: %w", out, err)
	}
	return m, nil
}

// exportRecords writes the CEL rows and queue_log lines Asterisk wrote since
// mark to prefix.cel.csv (psql's \copy ... csv header, as a site would export
// them) and prefix.queue_log.
func exportRecords(ctx context.Context, container, prefix string, m recordsMark) error {
	csv, err := dockerStdout(ctx, "exec", "-u", "postgres", container, "psql", "-d", CELDatabase, "-qc",
		fmt.Sprintf(`\copy (select * from cel where id > %d order by id) to stdout csv header`, m.celID))
	if err != nil {
		return fmt.Errorf("cel: export: %w", err)
	}
	if err := os.WriteFile(prefix+".cel.csv", csv, 0o644); err != nil {
		return fmt.Errorf("cel: %w", err)
	}
	ql, err := dockerStdout(ctx, "exec", container, "sh", "-c",
		fmt.Sprintf("tail -c +%d %s 2>/dev/null || true", m.queueLog+1, QueueLogPath))
	if err != nil {
		return fmt.Errorf("queue_log: export: %w", err)
	}
	if err := os.WriteFile(prefix+".queue_log", ql, 0o644); err != nil {
		return fmt.Errorf("queue_log: %w", err)
	}
	return nil
}

// dockerStdout is docker with stdout alone (stderr goes into the error).
func dockerStdout(ctx context.Context, args ...string) ([]byte, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("docker %s: %w: %s", args[0], err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}
