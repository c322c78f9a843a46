package main

import (
	"bytes"
	"strings"
	"testing"
)

// The audit record sender is checked before the agent starts: a sender no
// record could be checked against, or that any process passes for, is an
// error, not an agent that believes everyone.
func TestLibvirtAuditSenderFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"relative executable", []string{"--libvirt-audit-exe=libvirtd"}, "not an absolute path"},
		{"no executable and no label", []string{"--libvirt-audit-exe="}, "needs an executable or a security label"},
		{"a label matching anything", []string{"--libvirt-audit-subj=*"}, "would match any process"},
		{"unset uid", []string{"--libvirt-audit-uid=4294967295"}, "is not a uid"},
		{"not a uid", []string{"--libvirt-audit-uid=-1"}, "invalid value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := dispatch(append([]string{"agent", "--node-name=n"}, tc.args...), &out, &errOut)
			if code != 2 || !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("exit %d, stderr: %s\nwant 2 and %q", code, errOut.String(), tc.stderr)
			}
		})
	}
}
