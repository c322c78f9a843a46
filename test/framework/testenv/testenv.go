// Package testenv starts a real kube-apiserver and etcd (controller-runtime's
// envtest) with the vmevents CRDs installed, for the project's Ginkgo suites.
//
// The binaries come from KUBEBUILDER_ASSETS, which `make test` points at the
// control plane hack/control-plane.sh builds from the Go module proxy.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/internal/scheme"
)

// Env is a running control plane.
type Env struct {
	// Config connects as cluster admin.
	Config *rest.Config
	// Client is an admin client that knows the vmevents types.
	Client client.Client
	// Kubectl is the path of the kubectl built with the control plane.
	Kubectl string

	env *envtest.Environment
}

// RepoRoot is the repository's top folder, found from this source file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Assets returns the folder holding kube-apiserver, etcd and kubectl, or an
// error that tells the reader how to get them.
func Assets() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		return "", errors.New("KUBEBUILDER_ASSETS is not set: run the suites with `make test`, or set it to the folder `hack/control-plane.sh` prints")
	}
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("KUBEBUILDER_ASSETS=%s lacks %s: %w", dir, b, err)
		}
	}
	return dir, nil
}

// Start starts etcd and kube-apiserver and installs the CRDs.
func Start() (*Env, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme.New(),
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop() // Start may fail after launching etcd and the apiserver
		return nil, fmt.Errorf("starting the control plane from %s: %w", assets, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Config: cfg, Client: c, Kubectl: filepath.Join(assets, "kubectl"), env: env}, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error { return e.env.Stop() }

// Kubeconfig writes a kubeconfig for the admin user into dir and returns its path.
func (e *Env) Kubeconfig(dir string) (string, error) {
	user, err := e.env.ControlPlane.AddUser(envtest.User{Name: "vmevents-test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

// VirtualMachine is shorthand for a VM object to create in tests.
func VirtualMachine(namespace, name string, spec vmv1.VirtualMachineSpec) *vmv1.VirtualMachine {
	vm := &vmv1.VirtualMachine{Spec: spec}
	vm.Namespace, vm.Name = namespace, name
	return vm
}
