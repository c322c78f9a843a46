// Package proc runs the child processes of `make demo` and the end-to-end
// suite (etcd, kube-apiserver, the controller, the agent) with their output
// in a log file, each in its own process group, and stops them in order.
package proc

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is a started child.
type Process struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs bin with args, appending its output to logPath.
func Start(name, logPath, bin string, args ...string) (*Process, error) {
	return StartEnv(name, logPath, nil, bin, args...)
}

// StartEnv is Start with env added to the caller's environment.
func StartEnv(name, logPath string, env []string, bin string, args ...string) (*Process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so a Ctrl-C aimed at the caller's terminal
	// reaches the caller, which then stops its children in order; and a
	// killed caller takes its children with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); log.Close(); close(p.done) }()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the exit status, once Done is closed.
func (p *Process) Err() error { return p.err }

// Stop sends SIGTERM and waits up to grace, then kills. Safe on nil and
// on a process that has exited.
func (p *Process) Stop(grace time.Duration) {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill sends SIGKILL to the process group and waits for the process.
func (p *Process) Kill() {
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}
