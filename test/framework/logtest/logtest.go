// Package logtest captures what the binaries log, as their production
// logger writes it (controller-runtime's zap, JSON), and reads the lines
// back: for the tests of the incident log (docs/logging.md).
package logtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Buffer is a goroutine-safe log sink.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes is a copy of what was written so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// Capture is a logger configured as the binaries' production default (zap
// JSON, not development mode) writing into the returned Buffer.
func Capture() (logr.Logger, *Buffer) {
	b := &Buffer{}
	opts := zap.Options{Development: false, DestWriter: b}
	return zap.New(zap.UseFlagOptions(&opts)), b
}

// Lines parses every JSON line of data whose logger and msg are the given
// ones. A line that is not JSON is skipped when skipOther (a process's log
// may hold a Go panic or a library's plain text); it is an error otherwise.
func Lines(data []byte, logger, msg string, skipOther bool) ([]map[string]any, error) {
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			if skipOther {
				continue
			}
			return nil, fmt.Errorf("line %d is not JSON: %w: %q", n, err, sc.Text())
		}
		if line["logger"] == logger && line["msg"] == msg {
			out = append(out, line)
		}
	}
	return out, sc.Err()
}

// One is the single line logger wrote with msg in buf, checked to hold
// every one of keys and the values in want; it fails t otherwise.
func One(t testing.TB, buf *Buffer, logger, msg string, keys []string, want map[string]any) map[string]any {
	t.Helper()
	lines, err := Lines(buf.Bytes(), logger, msg, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1: %s", len(lines), buf.Bytes())
	}
	line := lines[0]
	for _, k := range keys {
		if _, ok := line[k]; !ok {
			t.Errorf("key %q missing: %v", k, line)
		}
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %#v, want %#v", k, line[k], v)
		}
	}
	return line
}

// Documented fails t for every key docs/logging.md (under the repository
// at root) does not name in backquotes: the keys users' log pipelines
// match on are written down.
func Documented(t testing.TB, root string, keys ...string) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(root, "docs", "logging.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/logging.md does not document `%s`", k)
		}
	}
}
