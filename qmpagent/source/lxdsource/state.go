package lxdsource

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/vmevents/vmevents/qmpagent/model"
	"github.com/vmevents/vmevents/qmpagent/source"
)

// The renames outlive the agent in a small file (Config.StateFile): without
// them a restarted agent would no longer know that the instance a
// VirtualMachine names has another name now. Each rename keeps the
// instance's LXD UUID, so that on every connection the agent checks the
// file against LXD (reconcileAliases): renames of deleted instances go,
// instances renamed again while the agent was away are found.

// Bounds on the state file.
const (
	maxStateBytes = 1 << 20
	maxRenames    = 4096
)

// stateFile is the state file's content.
type stateFile struct {
	Version int           `json:"version"`
	Renames []renameEntry `json:"renames"`
}

// renameEntry is one renamed instance.
type renameEntry struct {
	Project string `json:"project"`
	// Name is the instance's current name, Original the name it had
	// when a VirtualMachine could have named it.
	Name     string `json:"name"`
	Original string `json:"original"`
	UUID     string `json:"uuid,omitempty"`
}

// loadState reads the renames kept by a previous run; a missing file is
// an empty one, an unreadable one is logged and ignored.
func (s *Source) loadState() {
	if s.cfg.StateFile == "" {
		return
	}
	aliases, err := readState(s.cfg.StateFile)
	if err != nil {
		s.cfg.Log.Info("ignoring the LXD renames state file", "path", s.cfg.StateFile, "error", err.Error())
		return
	}
	for cur, a := range aliases {
		s.aliases[cur] = a
	}
}

// saveState writes the renames, logging a failure (they stay in memory).
func (s *Source) saveState() {
	if s.cfg.StateFile == "" {
		return
	}
	if err := writeState(s.cfg.StateFile, s.aliases); err != nil {
		s.cfg.Log.Info("could not keep the LXD renames; they will be lost when the agent restarts", "path", s.cfg.StateFile, "error", err.Error())
	}
}

// readState opens path without following a symbolic link, insists on a
// regular file of at most maxStateBytes, and keeps only well-formed
// entries (at most maxRenames).
func readState(path string) (map[Instance]alias, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxStateBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxStateBytes {
		return nil, fmt.Errorf("over %d bytes", maxStateBytes)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, err
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("unknown version %d", st.Version)
	}
	out := map[Instance]alias{}
	for _, e := range st.Renames {
		if len(out) == maxRenames {
			break
		}
		cur, orig := Instance{e.Project, e.Name}, Instance{e.Project, e.Original}
		if !validName(e.Project) || !validName(e.Name) || !validName(e.Original) || cur == orig {
			continue
		}
		a := alias{orig: orig}
		if source.ValidUUID(e.UUID) {
			a.uuid = e.UUID
		}
		out[cur] = a
	}
	return out, nil
}

// validName is a project or instance name as LXD allows them and the
// agent keeps them.
func validName(n string) bool {
	return n != "" && len(n) <= maxName && !strings.ContainsAny(n, "/?") && model.Clean(n, maxName) == n
}

// writeState replaces path atomically: a new file in the same folder
// (created exclusively, mode 0600), synced, renamed over the old one (a
// rename replaces a symbolic link, it does not follow it), and the folder
// synced.
func writeState(path string, aliases map[Instance]alias) error {
	st := stateFile{Version: 1, Renames: make([]renameEntry, 0, len(aliases))}
	for cur, a := range aliases {
		st.Renames = append(st.Renames, renameEntry{Project: cur.Project, Name: cur.Name, Original: a.orig.Name, UUID: a.uuid})
	}
	slices.SortFunc(st.Renames, func(a, b renameEntry) int {
		return strings.Compare(a.Project+"/"+a.Name, b.Project+"/"+b.Name)
	})
	if len(st.Renames) > maxRenames {
		st.Renames = st.Renames[:maxRenames]
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
