package qmp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// writeTimeout bounds one command write when ctx has no earlier deadline.
// A command is a few hundred bytes and QEMU reads its monitor promptly, so
// a write that cannot finish in this time means QEMU is wedged.
const writeTimeout = 10 * time.Second

// Execute runs a QMP command and waits for its reply.
//
// args, if not nil, is encoded with encoding/json as the command's
// "arguments" (a json.RawMessage is sent as is). result, if not nil,
// receives the "return" value through json.Unmarshal; pass a
// *json.RawMessage to keep it raw.
//
// Every command carries a unique id and is matched to its reply by that
// id, so commands may run concurrently. An error reply from QEMU is
// returned as an *Error, so errors.Is(err, ErrCommandNotFound) and the
// like work. If ctx ends first Execute returns ctx's error; the reply,
// when it comes, is counted in Stats.RepliesLate and dropped. If the
// connection ends first the error wraps the reason (see Err).
func (c *Conn) Execute(ctx context.Context, command string, args, result any) error {
	raw, err := c.execute(ctx, command, args)
	if err != nil {
		return err
	}
	if result == nil {
		return nil
	}
	if rm, ok := result.(*json.RawMessage); ok {
		*rm = raw
		return nil
	}
	if err := json.Unmarshal(raw, result); err != nil {
		return fmt.Errorf("qmp: %s: decoding reply: %w", command, err)
	}
	return nil
}

func (c *Conn) execute(ctx context.Context, command string, args any) (json.RawMessage, error) {
	line, id, err := c.encode(command, args)
	if err != nil {
		return nil, err
	}
	cl := &call{command: command, ch: make(chan result, 1)}
	c.pmu.Lock()
	if c.ended {
		c.pmu.Unlock()
		<-c.done // c.err is set before done is closed
		return nil, fmt.Errorf("qmp: %s: connection ended: %w", command, c.err)
	}
	c.pending[id] = cl
	c.pmu.Unlock()

	if err := c.write(ctx, line); err != nil {
		c.pmu.Lock()
		delete(c.pending, id)
		c.pmu.Unlock()
		return nil, fmt.Errorf("qmp: %s: %w", command, err)
	}

	select {
	case r := <-cl.ch:
		return r.ret, r.err
	case <-ctx.Done():
		c.pmu.Lock()
		if _, waiting := c.pending[id]; waiting {
			delete(c.pending, id)
			c.abandoned[id] = struct{}{}
		}
		c.pmu.Unlock()
		return nil, fmt.Errorf("qmp: %s: %w", command, ctx.Err())
	}
}

// encode builds {"execute": command, "arguments": args, "id": N}.
func (c *Conn) encode(command string, args any) ([]byte, uint64, error) {
	name, err := json.Marshal(command)
	if err != nil {
		return nil, 0, fmt.Errorf("qmp: encoding command name: %w", err)
	}
	id := c.nextID.Add(1)
	line := make([]byte, 0, 48+len(name))
	line = append(line, `{"execute":`...)
	line = append(line, name...)
	if args != nil {
		a, err := json.Marshal(args)
		if err != nil {
			return nil, 0, fmt.Errorf("qmp: %s: encoding arguments: %w", command, err)
		}
		line = append(line, `,"arguments":`...)
		line = append(line, a...)
	}
	line = append(line, `,"id":`...)
	line = strconv.AppendUint(line, id, 10)
	// No trailing newline: QEMU reads its monitor a byte at a time and may
	// exit (after "quit") before reading one, and closing a unix socket
	// with unread input makes the client's next read fail with
	// ECONNRESET instead of a clean end of stream.
	line = append(line, '}')
	return line, id, nil
}

// write sends one encoded command. A write that fails after sending part
// of the command leaves the stream unusable, so it ends the connection.
func (c *Conn) write(ctx context.Context, line []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	deadline := time.Now().Add(writeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_ = c.nc.SetWriteDeadline(deadline)
	n, err := c.nc.Write(line)
	if err == nil {
		return nil
	}
	select {
	case <-c.stop:
		return ErrClosed
	default:
	}
	if n > 0 {
		err = fmt.Errorf("write broke off after %d of %d bytes: %w", n, len(line), err)
		c.fail(err)
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
