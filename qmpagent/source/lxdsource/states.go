package lxdsource

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// get reads one of LXD's REST resources (path with its query) into v: the
// "metadata" of LXD's standard response, at most limit bytes of it.
func (s *Source) get(ctx context.Context, path string, limit int64, v any) error {
	var d net.Dialer
	hc := &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "unix", s.cfg.Socket)
			},
			DisableKeepAlives: true,
		},
		Timeout: 30 * time.Second,
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://lxd"+path, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	body := struct {
		Metadata any `json:"metadata"`
	}{Metadata: v}
	if err := json.NewDecoder(io.LimitReader(resp.Body, limit)).Decode(&body); err != nil {
		return fmt.Errorf("reading GET %s: %w", path, err)
	}
	return nil
}

// instanceInfo is what the agent reads of an instance (GET /1.0/instances).
type instanceInfo struct {
	Name     string            `json:"name"`
	Project  string            `json:"project"`
	Status   string            `json:"status"`
	Location string            `json:"location"`
	Config   map[string]string `json:"config"`
}

// syncStates reads the status (and UUID) of every instance of this member
// from LXD's REST API, then brings the renames up to date with them.
func (s *Source) syncStates(ctx context.Context) error {
	var list []instanceInfo
	if err := s.get(ctx, "/1.0/instances?recursion=1&all-projects=true", 64<<20, &list); err != nil {
		return err
	}
	states := make(map[Instance]runState, len(list))
	uuids := make(map[Instance]string, len(list))
	for _, i := range list {
		p := i.Project
		if p == "" {
			p = DefaultProject
		}
		if i.Name == "" || len(i.Name) > maxName || len(p) > maxName || !s.ours(i.Location) {
			continue
		}
		inst := Instance{Project: model.Clean(p, maxName), Name: model.Clean(i.Name, maxName)}
		states[inst] = runState{RunStateOf(i.Status), model.Clean(i.Status, 32)}
		if u := i.Config["volatile.uuid"]; source.ValidUUID(u) {
			uuids[inst] = u
		}
	}
	s.states, s.uuids = states, uuids
	s.reconcileAliases()
	return nil
}
