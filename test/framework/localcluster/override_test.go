package localcluster

import (
	"strings"
	"testing"
)

func TestOverride(t *testing.T) {
	for _, tc := range []struct{ args, extra, want string }{
		{"--a 1 --b 2", "--b 3", "--a 1 --b 3"},
		{"--a 1 --flag --b=2", "--b=4 --flag", "--a 1 --b=4 --flag"},
		{"--authorization-mode RBAC --x 1", "--authorization-mode Node,RBAC", "--x 1 --authorization-mode Node,RBAC"},
		{"--a 1", "", "--a 1"},
	} {
		got := strings.Join(override(strings.Fields(tc.args), strings.Fields(tc.extra)), " ")
		if got != tc.want {
			t.Errorf("override(%q, %q) = %q, want %q", tc.args, tc.extra, got, tc.want)
		}
	}
}
