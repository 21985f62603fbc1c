package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// The README's configuration table lists every key (add a row when you add
// a key: `| \`section.key\` | default | meaning |`).
func TestReadmeListsEveryKey(t *testing.T) {
	body, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	walkConfig("", reflect.ValueOf(defaultConfig()), func(key string, _ reflect.Value) {
		if !strings.Contains(string(body), "| `"+key+"` |") {
			t.Errorf("README.md configuration table lacks %q", key)
		}
	})
}
