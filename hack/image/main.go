// Command image builds the vmevents container image from the static binary,
// without a container engine: one layer on an empty base, written as an OCI
// image-layout archive that `ctr images import` (and `docker load`, `podman
// load`, `kind load image-archive`) accept.
//
//	go run ./hack/image -binary bin/vmevents -out bin/vmevents-image.tar
//
// Its defaults give the layout the Dockerfile gives (a test keeps the two
// equal): the binary at /vmevents as the entrypoint, user 65532:65532 with the
// /etc/passwd, /etc/group, /tmp and home of distroless's nonroot user. The
// output is reproducible: every timestamp is SOURCE_DATE_EPOCH (default 0),
// so the same binary always gives the same image digest.
//
// The real-cluster suite builds its sandbox ("pause") image with it as well.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	spec := Defaults()
	var binary, out string
	flag.StringVar(&binary, "binary", "bin/vmevents", "the static binary to put in the image")
	flag.StringVar(&out, "out", "bin/vmevents-image.tar", "where to write the OCI archive")
	flag.StringVar(&spec.Name, "name", spec.Name, "the image's reference, as the runtime will know it")
	flag.StringVar(&spec.Path, "path", spec.Path, "where the binary lands in the image; also the entrypoint")
	flag.StringVar(&spec.User, "user", spec.User, "the image's user, uid:gid")
	flag.Parse()

	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			fail(fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", epoch))
		}
		spec.Created = time.Unix(sec, 0).UTC()
	}
	digest, err := Build(binary, out, spec)
	if err != nil {
		fail(err)
	}
	fmt.Printf("%s %s %s\n", out, spec.Name, digest)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}
