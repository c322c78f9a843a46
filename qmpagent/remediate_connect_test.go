package qmpagent

import (
	"context"
	"errors"
	"fmt"
	"testing"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// connectingRemediator has no verified connection for its first tries.
type connectingRemediator struct {
	source.Remediator
	notConnected int
	last         error
	tries        int
}

func (r *connectingRemediator) Remediate(context.Context, *vmv1.VirtualMachine, vmv1.RemediationAction) error {
	r.tries++
	if r.tries <= r.notConnected {
		return fmt.Errorf("qmp: %w", source.ErrNotConnected)
	}
	return r.last
}

// A request taken up before the VM's session has connected waits for it;
// any other outcome is the action's, at once.
func TestActWhenConnected(t *testing.T) {
	refused := errors.New("QEMU refused")
	for _, tc := range []struct {
		name         string
		notConnected int
		last         error
		cancelled    bool
		want         error
		tries        int
	}{
		{"connected", 0, nil, false, nil, 1},
		{"connects after a while", 3, nil, false, nil, 4},
		{"fails once connected", 2, refused, false, refused, 3},
		{"never connects before the action's time is up", 1 << 30, nil, true, source.ErrNotConnected, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &connectingRemediator{notConnected: tc.notConnected, last: tc.last}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.cancelled {
				cancel()
			}
			defer cancel()
			err := actWhenConnected(ctx, r, &vmv1.VirtualMachine{}, vmv1.RemediationReset)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) || r.tries != tc.tries {
				t.Errorf("got %v after %d tries, want %v after %d", err, r.tries, tc.want, tc.tries)
			}
		})
	}
}
