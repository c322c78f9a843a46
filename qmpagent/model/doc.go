// Package model is the node agent's plain-Go picture of a virtual machine:
// the Facts the agent knows about it and the Occurrences (things that
// happened) it tells as Kubernetes Events. It knows no Kubernetes client;
// it uses the API's words (run states, monitor states) so that the agent and
// the controller speak one vocabulary.
//
// QMP is the model's native language: QEMU's monitor events and query
// results are applied to Facts here (ApplyQMP, SyncQMP; files qmp*.go),
// because two sources speak it: a QMP socket (source/qmpsource) and
// libvirtd's relay of the same monitor (source/libvirtsource). libvirt's
// audit records and LXD's events are translated into the model by their
// own sources. Only the agent core (package qmpagent) turns the model into
// Kubernetes objects.
package model
