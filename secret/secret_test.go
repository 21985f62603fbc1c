package secret

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "s3cret%pw\n")
	crlf := write("crlf", "s3cret%pw\r\n")
	empty := write("empty", "\n")
	two := write("two", "a\nb\n")
	tests := map[string]struct {
		inline, file string
		want, err    string
	}{
		"inline only":             {inline: "x", want: "x"},
		"file, newline trimmed":   {file: good, want: "s3cret%pw"},
		"file with CRLF":          {file: crlf, want: "s3cret%pw"},
		"both set":                {inline: "x", file: good, err: "ami.password and ami.password_file are exclusive"},
		"missing file names key":  {file: filepath.Join(dir, "nope"), err: "ami.password_file: open " + filepath.Join(dir, "nope") + ": no such file or directory"},
		"empty file":              {file: empty, err: "ami.password_file: " + empty + " is empty"},
		"two lines are not a pw":  {file: two, err: "ami.password_file: the secret must be one line"},
		"nothing set is not ours": {want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Read(tc.inline, tc.file, "ami.password")
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
