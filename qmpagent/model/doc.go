// Package model is the node agent's plain-Go picture of a virtual machine:
// the Facts the agent knows about it and the Occurrences (things that
// happened) it tells as Kubernetes Events. Every event source (QMP, libvirt,
// LXD) translates into this model; only the publish package turns it into
// Kubernetes objects.
package model
