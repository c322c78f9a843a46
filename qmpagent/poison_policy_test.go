package qmpagent_test

import (
	"context"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
	"github.com/vmevents/vmevents/test/framework/testenv"
)

// refuseBlockErrorsLabel marks the VMs whose status refuseBlockErrors
// applies to.
const refuseBlockErrorsLabel = "test.vmevents.dev/refuse-block-errors"

// refuseBlockErrors makes the apiserver refuse, as Invalid (422), a status
// with block errors for the VMs labelled refuseBlockErrorsLabel: a schema
// stricter than the one the agent bounds its facts to, as a cluster's own
// admission policy may be. It waits until the policy is in force and
// removes it when the spec ends.
func refuseBlockErrors() {
	GinkgoHelper()
	ctx := context.Background()
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "test-refuse-block-errors"},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
					Rule: admissionv1.Rule{APIGroups: []string{vmv1.GroupVersion.Group}, APIVersions: []string{"*"},
						Resources: []string{"virtualmachines/status"}},
				},
			}}},
			Validations: []admissionv1.Validation{{
				Expression: "!has(object.status) || !has(object.status.blockErrors)",
				Message:    "this cluster takes no block errors in status",
			}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{ObjectSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{refuseBlockErrorsLabel: "true"},
			}},
		},
	}
	Expect(env.Client.Create(ctx, policy)).To(Succeed())
	DeferCleanup(env.Client.Delete, ctx, policy)
	Expect(env.Client.Create(ctx, binding)).To(Succeed())
	DeferCleanup(env.Client.Delete, ctx, binding)

	// In force once a dry-run status with a block error is refused.
	probe := testenv.VirtualMachine("default", "refuse-block-errors-probe", vmv1.VirtualMachineSpec{NodeName: "nowhere", QMP: &vmv1.QMPSource{SocketPath: "/nowhere/qmp.sock"}})
	probe.Labels = map[string]string{refuseBlockErrorsLabel: "true"}
	Expect(env.Client.Create(ctx, probe)).To(Succeed())
	DeferCleanup(env.Client.Delete, ctx, probe)
	Eventually(func() error {
		p := probe.DeepCopy()
		p.Status.BlockErrors = []vmv1.BlockError{{Device: "probe"}}
		err := env.Client.Status().Update(ctx, p, client.DryRunAll)
		if apierrors.IsInvalid(err) {
			return nil
		}
		return fmt.Errorf("the policy is not in force yet: %v", err)
	}).Should(Succeed())
}
