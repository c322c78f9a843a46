package qmp

import (
	"context"
	"encoding/json"
)

// StatusInfo is the reply to query-status.
type StatusInfo struct {
	// Running is true when all vCPUs are runnable.
	Running bool `json:"running"`
	// Singlestep is reported by older QEMU (for example 7.2); it was
	// deprecated in 8.1 and later dropped, and reads false when absent.
	Singlestep bool `json:"singlestep"`
	// Status is the run state, which says why a stopped VM is stopped
	// (paused, io-error, watchdog, guest-panicked, shutdown, ...).
	Status RunState `json:"status"`
}

// QueryStatus returns the VM's run state.
func (c *Conn) QueryStatus(ctx context.Context) (StatusInfo, error) {
	var v StatusInfo
	err := c.Execute(ctx, "query-status", nil, &v)
	return v, err
}

// QueryName returns the VM name given with -name, or "" if none was.
func (c *Conn) QueryName(ctx context.Context) (string, error) {
	var v struct {
		Name string `json:"name"`
	}
	err := c.Execute(ctx, "query-name", nil, &v)
	return v.Name, err
}

// QueryUUID returns the VM UUID given with -uuid; QEMU reports the nil
// UUID when none was.
func (c *Conn) QueryUUID(ctx context.Context) (string, error) {
	var v struct {
		UUID string `json:"UUID"`
	}
	err := c.Execute(ctx, "query-uuid", nil, &v)
	return v.UUID, err
}

// QueryVersion returns the QEMU version.
func (c *Conn) QueryVersion(ctx context.Context) (VersionInfo, error) {
	var v VersionInfo
	err := c.Execute(ctx, "query-version", nil, &v)
	return v, err
}

// VNCInfo is the reply to query-vnc.
type VNCInfo struct {
	Enabled bool                 `json:"enabled"`
	Host    string               `json:"host,omitempty"`
	Family  NetworkAddressFamily `json:"family,omitempty"`
	Service string               `json:"service,omitempty"`
	// Auth is the authentication in use, for example "none", "vnc" or
	// "vencrypt+x509+sasl".
	Auth string `json:"auth,omitempty"`
	// Clients are the connected clients.
	Clients []VNCClientInfo `json:"clients,omitempty"`
}

// QueryVNC returns the VNC server and its clients. A QEMU built without
// VNC answers with an *Error of class ErrCommandNotFound.
func (c *Conn) QueryVNC(ctx context.Context) (VNCInfo, error) {
	var v VNCInfo
	err := c.Execute(ctx, "query-vnc", nil, &v)
	return v, err
}

// SpiceInfo is the reply to query-spice.
type SpiceInfo struct {
	Enabled  bool   `json:"enabled"`
	Migrated bool   `json:"migrated"`
	Host     string `json:"host,omitempty"`
	// Port and TLSPort are absent when that listener is not configured.
	Port            *int64              `json:"port,omitempty"`
	TLSPort         *int64              `json:"tls-port,omitempty"`
	Auth            string              `json:"auth,omitempty"`
	CompiledVersion string              `json:"compiled-version,omitempty"`
	MouseMode       SpiceQueryMouseMode `json:"mouse-mode"`
	Channels        []SpiceChannel      `json:"channels,omitempty"`
}

// QuerySPICE returns the SPICE server and its channels. A QEMU built
// without SPICE answers with an *Error of class ErrCommandNotFound; test
// for it with errors.Is(err, ErrCommandNotFound).
func (c *Conn) QuerySPICE(ctx context.Context) (SpiceInfo, error) {
	var v SpiceInfo
	err := c.Execute(ctx, "query-spice", nil, &v)
	return v, err
}

// BlockInfo is one entry of query-block.
type BlockInfo struct {
	// Device is the drive name (can be empty for -blockdev setups).
	Device string `json:"device"`
	// QDev is the guest device's ID or QOM path.
	QDev      string `json:"qdev,omitempty"`
	Type      string `json:"type"`
	Removable bool   `json:"removable"`
	Locked    bool   `json:"locked"`
	// Inserted describes the medium, absent when the drive is empty.
	Inserted *BlockDeviceInfo `json:"inserted,omitempty"`
	// TrayOpen is present only for devices with a tray.
	TrayOpen *bool `json:"tray_open,omitempty"`
	// IOStatus is present only when the device stops on errors: ok,
	// failed or nospace.
	IOStatus IOStatus `json:"io-status,omitempty"`
}

// BlockDeviceInfo describes the medium in a drive. Fields not listed here
// are in Raw.
type BlockDeviceInfo struct {
	// File is the image file name.
	File             string `json:"file"`
	NodeName         string `json:"node-name,omitempty"`
	ReadOnly         bool   `json:"ro"`
	Driver           string `json:"drv"`
	BackingFile      string `json:"backing_file,omitempty"`
	BackingFileDepth int64  `json:"backing_file_depth"`
	Encrypted        bool   `json:"encrypted"`
	DetectZeroes     string `json:"detect_zeroes,omitempty"`
	WriteThreshold   int64  `json:"write_threshold"`
	// Raw is the whole object as QEMU sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the raw object next to the decoded fields.
func (b *BlockDeviceInfo) UnmarshalJSON(data []byte) error {
	type plain BlockDeviceInfo
	var v plain
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*b = BlockDeviceInfo(v)
	b.Raw = append(json.RawMessage(nil), data...)
	return nil
}

// QueryBlock returns the VM's block devices.
func (c *Conn) QueryBlock(ctx context.Context) ([]BlockInfo, error) {
	var v []BlockInfo
	err := c.Execute(ctx, "query-block", nil, &v)
	return v, err
}

// BalloonInfo is the reply to query-balloon.
type BalloonInfo struct {
	// Actual is the guest memory size in bytes as the balloon sees it.
	Actual int64 `json:"actual"`
}

// QueryBalloon returns the balloon size. Without a balloon device QEMU
// answers with an *Error of class ErrDeviceNotActive.
func (c *Conn) QueryBalloon(ctx context.Context) (BalloonInfo, error) {
	var v BalloonInfo
	err := c.Execute(ctx, "query-balloon", nil, &v)
	return v, err
}

// SchemaInfo is one entity of query-qmp-schema. Type names other than
// commands' and events' are masked by QEMU; the full entry is in Raw.
type SchemaInfo struct {
	Name     string          `json:"name"`
	MetaType string          `json:"meta-type"`
	Raw      json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the raw entry next to the decoded fields.
func (s *SchemaInfo) UnmarshalJSON(data []byte) error {
	var v struct {
		Name     string `json:"name"`
		MetaType string `json:"meta-type"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*s = SchemaInfo{Name: v.Name, MetaType: v.MetaType, Raw: append(json.RawMessage(nil), data...)}
	return nil
}

// QueryQMPSchema returns QEMU's introspected schema (a single reply of
// about 200 KB on QEMU 7.2), for example to check which events and
// commands this QEMU has.
func (c *Conn) QueryQMPSchema(ctx context.Context) ([]SchemaInfo, error) {
	var v []SchemaInfo
	err := c.Execute(ctx, "query-qmp-schema", nil, &v)
	return v, err
}
