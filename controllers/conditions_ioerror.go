package controllers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// maxDevicesInMessage bounds the IOError message on a VM with many disks.
const maxDevicesInMessage = 3

// setIOErrorCondition is True while the VM is paused on a block I/O error,
// or while errors keep arriving: a device's last error is less than the
// I/O error window old and, on a running VM, no older than the moment it
// started running (errors from before a resume belong to the pause the
// resume ended).
func setIOErrorCondition(vm *vmv1.VirtualMachine, f facts, now time.Time) {
	c := metav1.Condition{Type: vmv1.ConditionIOError}
	errs := f.status.BlockErrors
	cause, paused, _ := f.pauseCause()
	recent := f.recentBlockErrors(now)
	switch {
	case !f.reported() && len(errs) == 0:
		c.Status, c.Reason = metav1.ConditionUnknown, vmv1.ReasonAwaitingFacts
		c.Message = "the agent has not reported on the VM yet"
	case paused && cause == vmv1.ReasonIOError:
		c.Status, c.Reason = metav1.ConditionTrue, vmv1.ReasonPausedOnError
		stopped := latestFirst(errs, func(be vmv1.BlockError) bool { return be.Action == "stop" })
		if len(stopped) == 0 {
			stopped = latestFirst(errs, func(vmv1.BlockError) bool { return true })
		}
		c.Message = "QEMU paused the VM on a block I/O error"
		if len(stopped) > 0 {
			c.Message += ": " + describeBlockErrors(stopped)
		} else {
			c.Message += " (the agent reported no device)"
		}
	case len(recent) > 0:
		c.Status, c.Reason = metav1.ConditionTrue, vmv1.ReasonRecentErrors
		c.Message = fmt.Sprintf("block I/O errors in the last %s: %s", f.ioErrorWindow, describeBlockErrors(recent))
	case len(errs) > 0 || wasFaulted(vm, vmv1.ConditionIOError):
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonRecovered
		c.Message = "no recent block I/O errors and the VM is not paused on one"
		if last := latestFirst(errs, func(vmv1.BlockError) bool { return true }); len(last) > 0 {
			c.Message += "; last: " + describeBlockErrors(last[:1])
		}
	default:
		c.Status, c.Reason = metav1.ConditionFalse, vmv1.ReasonNoIOError
		c.Message = "no block I/O errors reported"
	}
	setCondition(vm, c, now)
}

// recentBlockErrors are the devices whose errors still "keep arriving" at now.
func (f facts) recentBlockErrors(now time.Time) []vmv1.BlockError {
	since := f.status.RunStateSince
	return latestFirst(f.status.BlockErrors, func(be vmv1.BlockError) bool {
		t := microTime(be.LastTime)
		if t.IsZero() || !now.Before(t.Add(f.ioErrorWindow)) {
			return false
		}
		// On a running VM, only errors since it (re)started running count.
		return !f.running() || since == nil || !t.Before(since.Time)
	})
}

// ioErrorRecheck is when the IOError condition may clear by the passing of
// time alone (the newest recent error leaves the window), or zero.
func (f facts) ioErrorRecheck(now time.Time) time.Time {
	recent := f.recentBlockErrors(now)
	if len(recent) == 0 {
		return time.Time{}
	}
	return recent[0].LastTime.Add(f.ioErrorWindow)
}

// latestFirst returns the block errors keep accepts, newest error first.
func latestFirst(errs []vmv1.BlockError, keep func(vmv1.BlockError) bool) []vmv1.BlockError {
	var out []vmv1.BlockError
	for _, be := range errs {
		if keep(be) {
			out = append(out, be)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return microTime(out[i].LastTime).After(microTime(out[j].LastTime))
	})
	return out
}

// describeBlockErrors tells which devices failed how, with the errno text,
// and not how often or when last: those are in status.blockErrors. A
// failing disk errs many times a second; a message with its count would
// cost a condition write per error, where one per flip is enough (under a
// load of faults those writes were a third of the apiserver's).
func describeBlockErrors(errs []vmv1.BlockError) string {
	var parts []string
	for i, be := range errs {
		if i == maxDevicesInMessage {
			parts = append(parts, fmt.Sprintf("and %d more device(s)", len(errs)-i))
			break
		}
		s := "device " + be.Device
		if be.Operation != "" {
			s += " " + be.Operation
		}
		s += " error"
		switch {
		case be.Reason != "" && be.NoSpace:
			s += ": " + be.Reason + " (ENOSPC)"
		case be.Reason != "":
			s += ": " + be.Reason
		case be.NoSpace:
			s += ": no space left on device (ENOSPC)"
		}
		if be.Action != "" {
			s += ", action " + be.Action
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
