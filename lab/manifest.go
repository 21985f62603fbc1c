package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// RefreshManifest rewrites dir/NAME.manifest.json's answer key (the
// description, the calls and the known extras) from the catalogue, keeping
// what the recording said about itself (Asterisk version, accounts). The
// key is the scenario's definition, so a key written after the recording
// (a new field, a known-wrong entry removed once the engine is fixed)
// needs no new recording. It reports whether the file changed.
func RefreshManifest(dir, name string) (bool, error) {
	s, ok := Lookup(name)
	if !ok {
		return false, fmt.Errorf("manifest: no scenario %q", name)
	}
	path := filepath.Join(dir, name+".manifest.json")
	old, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("manifest %s: %w", name, err)
	}
	var m Manifest
	if err := json.Unmarshal(old, &m); err != nil {
		return false, fmt.Errorf("manifest %s: %w", path, err)
	}
	m.Description = s.Description
	if m.Description == "" && len(s.Calls) == 1 {
		m.Description = s.Calls[0].Description
	}
	m.Calls, m.KnownExtra = s.Calls, s.KnownExtra
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return false, err
	}
	b = append(b, '\n')
	if bytes.Equal(b, old) {
		return false, nil
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return false, fmt.Errorf("manifest %s: %w", name, err)
	}
	return true, nil
}
