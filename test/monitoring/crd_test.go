package monitoring_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/vmevents/vmevents/test/framework/testenv"
	"github.com/vmevents/vmevents/test/monitoring"
)

func TestMonitoring(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Prometheus integration")
}

var (
	ctx = context.Background()
	env *testenv.Env
)

var _ = BeforeSuite(func() {
	if testing.Short() {
		Skip("-short: the Prometheus Operator CRD checks need a control plane")
	}
	crds := operatorCRDs()
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(env.Stop()).To(Succeed()) })
	_, err = envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{
		Paths: []string{
			filepath.Join(crds, "monitoring.coreos.com_servicemonitors.yaml"),
			filepath.Join(crds, "monitoring.coreos.com_prometheusrules.yaml"),
		},
		ErrorIfPathMissing: true,
	})
	Expect(err).NotTo(HaveOccurred())
})

// operatorCRDs is monitoring.OperatorCRDs, failing the spec on error.
func operatorCRDs() string {
	GinkgoHelper()
	dir, err := monitoring.OperatorCRDs()
	Expect(err).NotTo(HaveOccurred())
	return dir
}

// build is `kustomize build` of config/default with the prometheus
// component, as a user's overlay would have it, split into objects.
func build() []*unstructured.Unstructured {
	GinkgoHelper()
	kustomize := os.Getenv("KUSTOMIZE")
	Expect(kustomize).NotTo(BeEmpty(), "KUSTOMIZE must name the kustomize binary (make test sets it)")
	dir := GinkgoT().TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, filepath.Join(testenv.RepoRoot(), p))
		Expect(err).NotTo(HaveOccurred())
		return r
	}
	overlay := "resources: [" + rel("config/default") + "]\ncomponents: [" + rel("config/components/prometheus") + "]\n"
	Expect(os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(overlay), 0o644)).To(Succeed())
	out, err := exec.Command(kustomize, "build", dir).Output()
	Expect(err).NotTo(HaveOccurred(), "kustomize build %s", dir)

	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objs
		}
		Expect(err).NotTo(HaveOccurred())
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// dryRunApply server-side applies obj without persisting it. Server-side
// apply validates fields strictly: a field the CRD's schema lacks is an
// error, not silently pruned.
// createNamespaces creates the build's Namespaces for real: a dry-run
// Namespace does not hold the objects that go into it. Each spec calls it,
// so none depends on another having run first (Ginkgo shuffles them).
func createNamespaces(objs []*unstructured.Unstructured) {
	GinkgoHelper()
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.GetName()}})
			Expect(client.IgnoreAlreadyExists(err)).To(Succeed())
		}
	}
}

func dryRunApply(obj *unstructured.Unstructured) error {
	return env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("vmevents-test"), client.ForceOwnership, client.DryRunAll)
}

var _ = Describe("The prometheus component against the Prometheus Operator's CRDs", func() {
	It("is accepted, every object, by a real apiserver with the operator's CRDs", func() {
		objs := build()
		kinds := map[string]int{}
		createNamespaces(objs)
		for _, o := range objs {
			Expect(dryRunApply(o)).To(Succeed(), "%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
			kinds[o.GetKind()]++
		}
		Expect(kinds).To(HaveKeyWithValue("ServiceMonitor", 2))
		Expect(kinds).To(HaveKeyWithValue("PrometheusRule", 1))
		Expect(kinds).To(HaveKeyWithValue("Service", 2))
	})

	It("would refuse a misspelt field (so the acceptance above means something)", func() {
		for _, o := range build() {
			if o.GetKind() != "ServiceMonitor" {
				continue
			}
			eps, _, _ := unstructured.NestedSlice(o.Object, "spec", "endpoints")
			eps[0].(map[string]any)["tlsConfg"] = map[string]any{"insecureSkipVerify": true}
			Expect(unstructured.SetNestedSlice(o.Object, eps, "spec", "endpoints")).To(Succeed())
			Expect(dryRunApply(o)).To(MatchError(ContainSubstring("tlsConfg: field not declared in schema")))
			return
		}
		Fail("no ServiceMonitor in the build")
	})
})
