package lxdsource

import (
	"bytes"
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
	return s.call(ctx, http.MethodGet, path, nil, limit, v)
}

// call sends a request to LXD's REST API (body, when not nil, as JSON) and
// reads the "metadata" of its response into v (when not nil), at most
// limit bytes of the response. LXD's refusal is returned in its words,
// bounded and cleaned.
func (s *Source) call(ctx context.Context, method, path string, body any, limit int64, v any) error {
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
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://lxd"+path, in)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out := struct {
		Metadata any    `json:"metadata"`
		Error    string `json:"error"`
	}{Metadata: v}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		out.Metadata = nil
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out)
		return &apiError{Method: method, Path: path, Status: resp.StatusCode, Msg: model.Clean(out.Error, 512)}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, limit)).Decode(&out); err != nil {
		return fmt.Errorf("reading %s %s: %w", method, path, err)
	}
	return nil
}

// apiError is LXD's refusal of a request.
type apiError struct {
	Method, Path string
	Status       int
	// Msg is LXD's error, cleaned.
	Msg string
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, model.Clean(e.Path, 512), e.Status, http.StatusText(e.Status))
	if e.Msg != "" {
		msg += ": " + e.Msg
	}
	return msg
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
