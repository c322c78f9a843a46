// Package qmpsource turns a QEMU monitor into the agent's model: it keeps a
// session to one VM's QMP socket (connect, re-sync, stream, reconnect) and
// translates every QMP event into Facts and an Occurrence. It knows nothing
// of Kubernetes: what it learns goes to a Sink.
package qmpsource
