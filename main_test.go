package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no subcommand", nil, 2, "", "Subcommands:"},
		{"unknown subcommand", []string{"frobnicate"}, 2, "", `unknown subcommand "frobnicate"`},
		{"help", []string{"--help"}, 0, "Subcommands:", ""},
		{"version", []string{"version"}, 0, "dev", ""},
		{"controller help lists its flags", []string{"controller", "--help"}, 0, "-leader-elect", ""},
		{"agent help lists its flags", []string{"agent", "--help"}, 0, "-socket-root", ""},
		{"unknown flag", []string{"agent", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{"agent without a node", []string{"agent", "--node-name="}, 2, "", "--node-name is required"},
		{"relative socket root", []string{"agent", "--node-name=n", "--socket-root=run"}, 2, "", "must be an absolute path"},
		{"agent help lists the tenancy", []string{"agent", "--help"}, 0, "-tenancy", ""},
		{"unknown tenancy", []string{"agent", "--node-name=n", "--tenancy=none"}, 2, "", `--tenancy "none": want namespace or shared`},
		{"stray argument", []string{"version", "extra"}, 2, "", "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := dispatch(tc.args, &out, &errOut)
			if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("dispatch(%q) = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q",
					tc.args, code, out.String(), errOut.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}
