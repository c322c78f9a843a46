package v1alpha1_test

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vmevents/vmevents/test/framework/testenv"
)

// The API suite runs against a real kube-apiserver: validation lives in the
// CRD's OpenAPI schema and CEL rules, which only the apiserver evaluates.
func TestAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a control plane (make test)")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "VirtualMachine API")
}

var (
	env *testenv.Env
	ctx = context.Background()
)

var _ = BeforeSuite(func() {
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(env.Stop()).To(Succeed()) })
})
