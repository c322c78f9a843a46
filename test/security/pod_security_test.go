package security

import (
	"context"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vmevents/vmevents/internal/scheme"
)

// Each namespace is as strict as its pods allow (config/manager/namespace.yaml):
// the apiserver's PodSecurity admission, against the installed namespaces and
// the pods the installed Deployment and DaemonSet would create (server-side
// dry runs, so nothing runs: there is no kubelet here).
var _ = Describe("PodSecurity", Ordered, func() {
	var (
		controller, agent corev1.PodTemplateSpec
		warnings          *warningRecorder
		dryRun            client.Client
	)

	BeforeAll(func() {
		var d appsv1.Deployment
		Expect(admin.Get(ctx, types.NamespacedName{Namespace: "vmevents-controller", Name: "vmevents-controller"}, &d)).To(Succeed())
		controller = d.Spec.Template
		var ds appsv1.DaemonSet
		Expect(admin.Get(ctx, types.NamespacedName{Namespace: "vmevents-system", Name: "vmevents-agent"}, &ds)).To(Succeed())
		agent = ds.Spec.Template
		warnings, dryRun = warningClient()
	})

	// create dry-runs the pod a template makes in namespace ns and returns
	// the apiserver's answer and its warnings.
	create := func(ns, name string, t corev1.PodTemplateSpec) ([]string, error) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: t.Labels}, Spec: *t.Spec.DeepCopy()}
		warnings.reset()
		err := dryRun.Create(ctx, pod, client.DryRunAll)
		return warnings.get(), err
	}

	It("labels the controller's namespace restricted and the agent's privileged, warning beyond baseline", func() {
		levels := map[string]map[string]string{}
		for _, name := range []string{"vmevents-controller", "vmevents-system"} {
			var ns corev1.Namespace
			Expect(admin.Get(ctx, types.NamespacedName{Name: name}, &ns)).To(Succeed())
			levels[name] = map[string]string{}
			for k, v := range ns.Labels {
				if mode, ok := strings.CutPrefix(k, podSecurity); ok {
					levels[name][mode] = v
				}
			}
		}
		Expect(levels).To(Equal(map[string]map[string]string{
			"vmevents-controller": {"enforce": "restricted", "enforce-version": "v1.36", "audit": "restricted", "warn": "restricted"},
			"vmevents-system":     {"enforce": "privileged", "audit": "baseline", "warn": "baseline"},
		}))
	})

	It("admits the shipped controller pod in its namespace, without a warning", func() {
		warned, err := create("vmevents-controller", "controller", controller)
		Expect(err).NotTo(HaveOccurred())
		Expect(warned).To(BeEmpty())
	})

	DescribeTable("refuses a controller pod that asks for more than restricted allows",
		func(change func(*corev1.PodSpec), check string) {
			t := *controller.DeepCopy()
			change(&t.Spec)
			_, err := create("vmevents-controller", "greedy", t)
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden, got %v", err)
			Expect(err.Error()).To(And(ContainSubstring(`violates PodSecurity "restricted:v1.36"`), ContainSubstring(check)))
		},
		Entry("a host folder", func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/run/vmevents"}}})
		}, `uses restricted volume type "hostPath"`),
		Entry("root", func(s *corev1.PodSpec) {
			s.SecurityContext.RunAsNonRoot = nil
			s.SecurityContext.RunAsUser = ptr.To(int64(0))
		}, "runAsUser=0"),
		Entry("a privileged container", func(s *corev1.PodSpec) {
			c := s.Containers[0].SecurityContext
			c.Privileged, c.AllowPrivilegeEscalation = ptr.To(true), nil // validation refuses both together
		}, "privileged"),
		Entry("a capability", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"DAC_OVERRIDE"}
		}, "unrestricted capabilities"),
		Entry("the host's network", func(s *corev1.PodSpec) { s.HostNetwork = true }, "host namespaces"),
		Entry("no syscall filter", func(s *corev1.PodSpec) { s.SecurityContext.SeccompProfile = nil }, "seccompProfile"),
	)

	It("admits the shipped agent pod in its namespace, warning of what goes beyond baseline", func() {
		warned, err := create("vmevents-system", "agent", agent)
		Expect(err).NotTo(HaveOccurred())
		Expect(warned).To(ContainElement(And(ContainSubstring(`would violate PodSecurity "baseline:latest"`), ContainSubstring("hostPath volumes"))))
	})
})

// podSecurity is the prefix of PodSecurity admission's namespace labels.
const podSecurity = "pod-security.kubernetes.io/"

// warningRecorder keeps the warnings the apiserver sends a client.
type warningRecorder struct {
	mu   sync.Mutex
	seen []string
}

// HandleWarningHeaderWithContext implements rest.WarningHandlerWithContext.
func (w *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

func (w *warningRecorder) reset() { w.mu.Lock(); w.seen = nil; w.mu.Unlock() }

func (w *warningRecorder) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.seen...)
}

// warningClient is an admin client whose warnings are recorded.
func warningClient() (*warningRecorder, client.Client) {
	GinkgoHelper()
	cfg, err := clientcmd.BuildConfigFromFlags("", sys.Kubeconfig())
	Expect(err).NotTo(HaveOccurred())
	w := &warningRecorder{}
	cfg.WarningHandlerWithContext = w
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	Expect(err).NotTo(HaveOccurred())
	return w, c
}
