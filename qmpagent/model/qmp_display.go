package model

import (
	"fmt"
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

func spiceConnected(f *Facts, v any, at time.Time) detail {
	e := v.(qmp.SpiceConnectedEvent)
	client := hostPort(e.Client.Host, e.Client.Port)
	addDisplay(f, DisplaySession{Protocol: "spice", Client: client, Since: at})
	return detail{note: fmt.Sprintf("SPICE client %s connected", client), series: client}
}

func spiceInitialized(f *Facts, v any, _ time.Time) detail {
	e := v.(qmp.SpiceInitializedEvent)
	client := hostPort(e.Client.Host, e.Client.Port)
	addDisplay(f, DisplaySession{Protocol: "spice", Client: client, Auth: s(e.Server.Auth)})
	note := fmt.Sprintf("SPICE client %s opened channel %d/%d", client, e.Client.ChannelType, e.Client.ChannelID)
	if e.Client.TLS {
		note += " over TLS"
	}
	return detail{note: note, series: fmt.Sprintf("%s/%d/%d", client, e.Client.ChannelType, e.Client.ChannelID)}
}

func spiceDisconnected(f *Facts, v any, _ time.Time) detail {
	e := v.(qmp.SpiceDisconnectedEvent)
	client := hostPort(e.Client.Host, e.Client.Port)
	delete(f.Display, "spice/"+client)
	return detail{note: fmt.Sprintf("SPICE client %s disconnected", client), series: client}
}
