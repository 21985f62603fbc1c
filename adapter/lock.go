package adapter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the file in data_dir that one daemon holds locked while it
// runs (flock, released by the kernel when the process dies). It holds the
// holder's pid, for the message a second daemon gets.
const LockFile = "callstatusd.lock"

// InUseError says another process holds a directory's lock.
type InUseError struct {
	Dir string
	PID int // 0 when the holder's pid could not be read
}

func (e *InUseError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("data_dir %s is in use by another process", e.Dir)
	}
	return fmt.Sprintf("data_dir %s is in use by pid %d", e.Dir, e.PID)
}

// Lock is a held directory lock.
type Lock struct{ f *os.File }

// LockDir takes the exclusive lock of dir (creating dir when missing), or
// fails at once with an *InUseError when another process holds it: two
// daemons on one data_dir would each reopen the other's outbox and lose
// what it queued. Release it when done.
func LockDir(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data_dir: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("data_dir: open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b, _ := os.ReadFile(path)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			return nil, &InUseError{Dir: dir, PID: pid}
		}
		return nil, fmt.Errorf("data_dir: lock %s: %w", path, err)
	}
	// The pid is for the message only; the lock is the flock.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release unlocks (closing the file drops the flock). The file stays: a
// removal could race with the next daemon taking it.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// LockState locks data_dir, and the outbox directory when it lies
// outside data_dir, before anything opens a file there (the embedded NATS
// store included).
func (c Config) LockState() (release func(), err error) {
	var dirs []string
	if c.DataDir != "" {
		dirs = append(dirs, c.DataDir)
	}
	if c.Outbox.Durable && c.Outbox.Dir != "" && (c.DataDir == "" || !within(c.Outbox.Dir, c.DataDir)) {
		dirs = append(dirs, c.Outbox.Dir)
	}
	var held []*Lock
	release = func() {
		for _, l := range held {
			l.Release()
		}
	}
	for _, d := range dirs {
		l, err := LockDir(d)
		if err != nil {
			release()
			return nil, err
		}
		held = append(held, l)
	}
	return release, nil
}

// within says whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
