// Package secret reads a credential given inline or as a file.
package secret

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Read returns a credential given either inline (config file or
// CALLSTATUS_* environment) or as a file (a Docker/Kubernetes secret
// mount), so it need not sit in the config file or the environment. key
// names the inline setting; the file setting is key+"_file". Setting both
// is an error: which one wins would be a guess.
func Read(inline, file, key string) (string, error) {
	if file == "" {
		return inline, nil
	}
	if inline != "" {
		return "", fmt.Errorf("%s and %s_file are exclusive", key, key)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		// The path, never the content.
		return "", fmt.Errorf("%s_file: %w", key, err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("%s_file: %s is empty", key, file)
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", errors.New(key + "_file: the secret must be one line")
	}
	return s, nil
}
