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
)

// syncStates reads every instance's status from LXD's REST API.
func (s *Source) syncStates(ctx context.Context) error {
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://lxd/1.0/instances?recursion=1&all-projects=true", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /1.0/instances: %s", resp.Status)
	}
	var body struct {
		Metadata []struct {
			Name    string `json:"name"`
			Project string `json:"project"`
			Status  string `json:"status"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&body); err != nil {
		return fmt.Errorf("reading GET /1.0/instances: %w", err)
	}
	states := make(map[Instance]runState, len(body.Metadata))
	for _, i := range body.Metadata {
		p := i.Project
		if p == "" {
			p = DefaultProject
		}
		if i.Name == "" || len(i.Name) > maxName || len(p) > maxName {
			continue
		}
		status := model.Clean(i.Status, 32)
		states[Instance{Project: model.Clean(p, maxName), Name: model.Clean(i.Name, maxName)}] = runState{RunStateOf(i.Status), status}
	}
	s.states = states
	return nil
}
