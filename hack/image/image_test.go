package main

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// dockerfile is what the Dockerfile's final stage says about the image.
type dockerfile struct {
	entrypoint []string
	user       string
	binaryAt   string // where COPY --from=build puts the binary
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfile
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM": // a new stage: only the last one is the image
			d = dockerfile{}
		case "USER":
			d.user = strings.TrimSpace(rest)
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &d.entrypoint); err != nil {
				t.Fatalf("ENTRYPOINT %s is not exec form: %v", rest, err)
			}
		case "COPY":
			if f := strings.Fields(rest); len(f) == 3 && strings.HasPrefix(f[0], "--from=") {
				d.binaryAt = f[2]
			}
		}
	}
	return d
}

// TestImageMatchesDockerfile keeps the engine-less image and the Dockerfile's
// equal in what the manifests rely on: the entrypoint, the user and where the
// binary is. Change one, and this fails until the other follows.
func TestImageMatchesDockerfile(t *testing.T) {
	want := readDockerfile(t)
	img, err := Image([]byte("#!binary"), Defaults())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Config.Entrypoint; strings.Join(got, " ") != strings.Join(want.entrypoint, " ") {
		t.Errorf("entrypoint %q, the Dockerfile says %q", got, want.entrypoint)
	}
	if cfg.Config.User != want.user {
		t.Errorf("user %q, the Dockerfile says %q", cfg.Config.User, want.user)
	}
	files := layerFiles(t, img)
	bin, ok := files[strings.TrimPrefix(want.binaryAt, "/")]
	if !ok {
		t.Fatalf("no file at %s (the Dockerfile's COPY destination); files: %v", want.binaryAt, files)
	}
	if bin.Mode&0o111 == 0 {
		t.Errorf("%s is not executable: mode %o", want.binaryAt, bin.Mode)
	}
	// distroless's nonroot user, which the controller runs as, is named.
	if p := files["etc/passwd"]; p == nil || !strings.Contains(p.body, ":65532:65532:") {
		t.Errorf("/etc/passwd does not name user 65532: %v", p)
	}
}

// TestImageReproducible: the same binary gives the same digest, so a rebuild
// never makes the runtime think the image changed.
func TestImageReproducible(t *testing.T) {
	digest := func() string {
		img, err := Image([]byte("same bytes"), Defaults())
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	if a, b := digest(), digest(); a != b {
		t.Fatalf("two builds of one binary: %s and %s", a, b)
	}
}

func TestParseUser(t *testing.T) {
	for _, tc := range []struct {
		in       string
		uid, gid int
		bad      bool
	}{
		{in: "65532:65532", uid: 65532, gid: 65532},
		{in: "0", uid: 0, gid: 0},
		{in: "nonroot", bad: true},
		{in: "1:x", bad: true},
		{in: "-1:0", bad: true},
	} {
		uid, gid, err := parseUser(tc.in)
		if (err != nil) != tc.bad || uid != tc.uid || gid != tc.gid {
			t.Errorf("parseUser(%q) = %d, %d, %v", tc.in, uid, gid, err)
		}
	}
}

type file struct {
	Mode int64
	body string
}

func layerFiles(t *testing.T, img v1.Image) map[string]*file {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]*file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		files[strings.TrimSuffix(h.Name, "/")] = &file{Mode: h.Mode, body: string(body)}
	}
}
