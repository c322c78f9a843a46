package model

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/vmevents/vmevents/qmpagent/qmp"
)

// Display sessions: a client is added on *_CONNECTED, completed with its
// authentication on *_INITIALIZED and removed on *_DISCONNECTED.

func addDisplay(f *Facts, d DisplaySession) {
	if f.Display == nil {
		f.Display = map[string]DisplaySession{}
	}
	if old, ok := f.Display[d.Key()]; ok {
		if d.Since.IsZero() {
			d.Since = old.Since
		}
		if d.Auth == "" {
			d.Auth = old.Auth
		}
	}
	f.Display[d.Key()] = d
}

func vncConnected(f *Facts, v any, at time.Time) detail {
	e := v.(qmp.VNCConnectedEvent)
	client := hostPort(e.Client.Host, e.Client.Service)
	addDisplay(f, DisplaySession{Protocol: "vnc", Client: client, Since: at, Auth: s(e.Server.Auth)})
	return detail{note: fmt.Sprintf("VNC client %s connected", client), series: client}
}

func vncInitialized(f *Facts, v any, _ time.Time) detail {
	e := v.(qmp.VNCInitializedEvent)
	client := hostPort(e.Client.Host, e.Client.Service)
	user := s(e.Client.SASLUsername)
	if user == "" {
		user = s(e.Client.X509DName)
	}
	addDisplay(f, DisplaySession{Protocol: "vnc", Client: client, Auth: s(e.Server.Auth), Username: user})
	note := fmt.Sprintf("VNC client %s authenticated", client)
	if e.Server.Auth != "" {
		note += " (" + s(e.Server.Auth) + ")"
	}
	if user != "" {
		note += " as " + user
	}
	return detail{note: note, series: client}
}

func vncDisconnected(f *Facts, v any, _ time.Time) detail {
	e := v.(qmp.VNCDisconnectedEvent)
	client := hostPort(e.Client.Host, e.Client.Service)
	delete(f.Display, "vnc/"+client)
	return detail{note: fmt.Sprintf("VNC client %s disconnected", client), series: client}
}

// A SPICE client opens one TCP connection per channel (main, display,
// inputs, cursor...), all carrying the connection-id the server gave its
// main channel: the session is the connection-id, its channels are kept to
// tell which session a SPICE_DISCONNECTED (which carries only the
// channel's address) ends. Only initialized channels count, as in
// query-spice.

// spiceChannelTypes names SPICE's channel types (spice-protocol's
// SPICE_CHANNEL_*).
var spiceChannelTypes = map[int64]string{
	1: "main", 2: "display", 3: "inputs", 4: "cursor", 5: "playback", 6: "record",
	7: "tunnel", 8: "smartcard", 9: "usbredir", 10: "port", 11: "webdav",
}

func spiceChannelName(typ, id int64) string {
	name, ok := spiceChannelTypes[typ]
	if !ok {
		name = "type " + strconv.FormatInt(typ, 10)
	}
	return fmt.Sprintf("%s (%d/%d)", name, typ, id)
}

// addSpiceChannel records an initialized channel in its session.
func addSpiceChannel(f *Facts, c qmp.SpiceChannel, auth string, at time.Time) DisplaySession {
	addr := hostPort(c.Host, c.Port)
	d := DisplaySession{Protocol: "spice", Connection: strconv.FormatInt(c.ConnectionID, 10), Since: at, Auth: auth}
	if old, ok := f.Display[d.Key()]; ok {
		d.Client, d.Channels, d.Since = old.Client, old.Channels, time.Time{} // addDisplay keeps its Since
	}
	if d.Client == "" || c.ChannelType == 1 {
		d.Client = addr
	}
	if !slices.Contains(d.Channels, addr) {
		// A new slice: the old one may be shared with a clone.
		d.Channels = append(slices.Clip(d.Channels), addr)
	}
	addDisplay(f, d)
	return f.Display[d.Key()]
}

func spiceConnected(_ *Facts, v any, _ time.Time) detail {
	e := v.(qmp.SpiceConnectedEvent)
	client := hostPort(e.Client.Host, e.Client.Port)
	return detail{note: fmt.Sprintf("SPICE client %s connected", client), series: client}
}

func spiceInitialized(f *Facts, v any, at time.Time) detail {
	e := v.(qmp.SpiceInitializedEvent)
	d := addSpiceChannel(f, e.Client, s(e.Server.Auth), at)
	note := fmt.Sprintf("SPICE client %s opened channel %s of session %s", hostPort(e.Client.Host, e.Client.Port),
		spiceChannelName(e.Client.ChannelType, e.Client.ChannelID), d.Connection)
	if e.Client.TLS {
		note += " over TLS"
	}
	return detail{note: note, series: fmt.Sprintf("%s/%d/%d", d.Connection, e.Client.ChannelType, e.Client.ChannelID)}
}

func spiceDisconnected(f *Facts, v any, _ time.Time) detail {
	e := v.(qmp.SpiceDisconnectedEvent)
	client := hostPort(e.Client.Host, e.Client.Port)
	for key, d := range f.Display {
		if d.Protocol != "spice" || (!slices.Contains(d.Channels, client) && d.Client != client) {
			continue
		}
		d.Channels = slices.DeleteFunc(slices.Clone(d.Channels), func(c string) bool { return c == client })
		if len(d.Channels) > 0 {
			f.Display[key] = d
			return detail{note: fmt.Sprintf("SPICE client %s closed a channel of session %s (%d open)", client, d.Connection, len(d.Channels)), series: client}
		}
		delete(f.Display, key)
	}
	return detail{note: fmt.Sprintf("SPICE client %s disconnected", client), series: client}
}
