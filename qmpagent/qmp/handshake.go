package qmp

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Greeting is the banner QEMU sends when a client connects:
//
//	{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7},
//	  "package": "Debian 1:7.2+dfsg-7"}, "capabilities": ["oob"]}}
type Greeting struct {
	// Version is the QEMU version.
	Version VersionInfo `json:"version"`
	// Capabilities lists the protocol capabilities QEMU offers. This
	// client enables none of them: out-of-band execution is not needed to
	// watch events and run queries.
	Capabilities []string `json:"capabilities"`
}

// VersionInfo is QEMU's version, as in the greeting and query-version.
type VersionInfo struct {
	// QEMU is the upstream version.
	QEMU VersionTriple `json:"qemu"`
	// Package is the distribution's package version, possibly empty.
	Package string `json:"package"`
}

// VersionTriple is a major.minor.micro version.
type VersionTriple struct {
	Major int `json:"major"`
	Minor int `json:"minor"`
	Micro int `json:"micro"`
}

// String formats the version as "major.minor.micro".
func (v VersionTriple) String() string {
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Micro)
}

// AtLeast reports whether v is major.minor.micro or newer, for feature
// checks such as "RTC_CHANGE carries qom-path since 9.1".
func (v VersionTriple) AtLeast(major, minor, micro int) bool {
	if v.Major != major {
		return v.Major > major
	}
	if v.Minor != minor {
		return v.Minor > minor
	}
	return v.Micro >= micro
}

// handshake waits for the greeting and negotiates capabilities.
//
// The reader goroutine is already running, so events that arrive before
// the greeting, during negotiation or in the same read as the
// qmp_capabilities reply are queued in order like any other event.
func (c *Conn) handshake(ctx context.Context) error {
	timer := time.NewTimer(c.opts.GreetingTimeout)
	defer timer.Stop()
	select {
	case g := <-c.greetCh:
		c.greeting = g
	case <-c.done:
		return fmt.Errorf("connection ended before the greeting: %w", c.err)
	case <-timer.C:
		return fmt.Errorf("%w (waited %v)", ErrMonitorBusy, c.opts.GreetingTimeout)
	case <-ctx.Done():
		return fmt.Errorf("waiting for the greeting: %w", ctx.Err())
	}
	nctx, cancel := context.WithTimeout(ctx, c.opts.GreetingTimeout)
	defer cancel()
	if err := c.Execute(nctx, "qmp_capabilities", nil, nil); err != nil {
		return fmt.Errorf("negotiating capabilities: %w", err)
	}
	return nil
}

// handleGreeting checks the greeting's shape and hands it to handshake.
// A malformed greeting means the peer is not a QMP server, which ends the
// connection; a repeated greeting is counted and ignored.
func (c *Conn) handleGreeting(msg []byte, m message) error {
	if c.greeted {
		c.nUnknown.Add(1)
		return nil
	}
	g, err := parseGreeting(msg[m.qmp.start:m.qmp.end])
	if err != nil {
		return err
	}
	c.greeted = true
	c.greetCh <- g
	return nil
}

// parseGreeting validates the value of the "QMP" member: version.qemu
// with major, minor and micro numbers, version.package a string, and
// capabilities an array of strings. Extra members are allowed.
func parseGreeting(b []byte) (Greeting, error) {
	var raw struct {
		Version *struct {
			QEMU *struct {
				Major *int `json:"major"`
				Minor *int `json:"minor"`
				Micro *int `json:"micro"`
			} `json:"qemu"`
			Package *string `json:"package"`
		} `json:"version"`
		Capabilities *[]string `json:"capabilities"`
	}
	bad := func(why string) (Greeting, error) {
		return Greeting{}, fmt.Errorf("%w: malformed greeting (%s): %s", ErrProtocol, why, quoteGarbage(b))
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return bad(err.Error())
	}
	switch {
	case raw.Version == nil:
		return bad("no version")
	case raw.Version.QEMU == nil:
		return bad("no version.qemu")
	case raw.Version.QEMU.Major == nil || raw.Version.QEMU.Minor == nil || raw.Version.QEMU.Micro == nil:
		return bad("version.qemu lacks major, minor or micro")
	case raw.Version.Package == nil:
		return bad("no version.package")
	case raw.Capabilities == nil:
		return bad("no capabilities")
	}
	return Greeting{
		Version: VersionInfo{
			QEMU: VersionTriple{
				Major: *raw.Version.QEMU.Major,
				Minor: *raw.Version.QEMU.Minor,
				Micro: *raw.Version.QEMU.Micro,
			},
			Package: *raw.Version.Package,
		},
		Capabilities: *raw.Capabilities,
	}, nil
}
