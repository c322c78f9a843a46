package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec is what an image holds besides its binary.
type Spec struct {
	// Name is the reference the runtime stores the image under, e.g.
	// "vmevents:latest" (short names mean docker.io/library/...).
	Name string
	// Path is where the binary lands, and the entrypoint.
	Path string
	// User is "uid:gid". A numeric user is what runAsNonRoot can check.
	User string
	// Created stamps the config and every file: fixed, for a reproducible
	// digest.
	Created time.Time
}

// Defaults is the Dockerfile's image: see the package comment.
func Defaults() Spec {
	return Spec{Name: "vmevents:latest", Path: "/vmevents", User: "65532:65532", Created: time.Unix(0, 0).UTC()}
}

// Build writes the image of binary as an OCI archive at out and returns its
// manifest digest.
func Build(binary, out string, spec Spec) (v1.Hash, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("reading the binary: %w", err)
	}
	img, err := Image(bin, spec)
	if err != nil {
		return v1.Hash{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	return digest, writeArchive(img, spec.Name, out, spec.Created)
}

// Image is the image of the binary bin.
func Image(bin []byte, spec Spec) (v1.Image, error) {
	uid, gid, err := parseUser(spec.User)
	if err != nil {
		return nil, err
	}
	layerTar, err := rootfs(bin, spec, uid, gid)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = "amd64", "linux"
	cfg.Created = v1.Time{Time: spec.Created}
	cfg.Config.Entrypoint = []string{spec.Path}
	cfg.Config.User = spec.User
	cfg.Config.WorkingDir = home(uid)
	cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	return mutate.ConfigFile(img, cfg)
}

// rootfs is the image's one layer: the binary, and the files distroless's
// static image gives its users (an /etc/passwd naming the user, /tmp, a home).
func rootfs(bin []byte, spec Spec, uid, gid int) ([]byte, error) {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
	group := "root:x:0:\nnobody:x:65534:\n"
	if uid != 0 && uid != 65534 {
		passwd += fmt.Sprintf("nonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", uid, gid, home(uid))
		group += fmt.Sprintf("nonroot:x:%d:\n", gid)
	}
	type entry struct {
		mode     int64
		uid, gid int
		data     []byte // nil for a folder
	}
	files := map[string]entry{
		"etc":                              {0o755, 0, 0, nil},
		"etc/passwd":                       {0o644, 0, 0, []byte(passwd)},
		"etc/group":                        {0o644, 0, 0, []byte(group)},
		"tmp":                              {0o1777, 0, 0, nil},
		strings.TrimPrefix(spec.Path, "/"): {0o755, 0, 0, bin},
	}
	if h := home(uid); h != "/" {
		files["home"] = entry{0o755, 0, 0, nil}
		files[strings.TrimPrefix(h, "/")] = entry{0o700, uid, gid, nil}
	}
	for dir := filepath.Dir(strings.TrimPrefix(spec.Path, "/")); dir != "."; dir = filepath.Dir(dir) {
		files[dir] = entry{0o755, 0, 0, nil}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := files[n]
		h := &tar.Header{Name: n, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: spec.Created, Format: tar.FormatPAX}
		if e.data == nil {
			h.Typeflag, h.Name = tar.TypeDir, n+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// home is the user's home folder: distroless's /home/nonroot, or / for root.
func home(uid int) string {
	if uid == 0 || uid == 65534 {
		return "/"
	}
	return "/home/nonroot"
}

func parseUser(user string) (uid, gid int, err error) {
	u, g, ok := strings.Cut(user, ":")
	if !ok {
		g = u
	}
	if uid, err = strconv.Atoi(u); err == nil {
		gid, err = strconv.Atoi(g)
	}
	if err != nil || uid < 0 || gid < 0 {
		return 0, 0, fmt.Errorf("user %q is not a numeric uid:gid", user)
	}
	return uid, gid, nil
}
