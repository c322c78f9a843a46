package security

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The installed NetworkPolicies (config/network-policy, as the apiserver
// accepted and defaulted them) against the installed pods' own ports. No
// network plugin runs here, so the rules are evaluated as Kubernetes
// defines them: what reaches the metrics port is a namespace the admin
// labelled, as docs/security.md tells the admin to.
var _ = Describe("The metrics port", Ordered, func() {
	type pod struct {
		namespace string
		labels    map[string]string
		ports     []corev1.ContainerPort
	}
	var (
		policies   []networkingv1.NetworkPolicy
		components = map[string]pod{}
		namespaces = map[string]map[string]string{} // name: labels, as the apiserver has them
	)

	BeforeAll(func() {
		for _, args := range [][]string{
			{"create", "namespace", "monitoring"},
			{"label", "namespace", "monitoring", "vmevents.dev/metrics-scraper=true"}, // as docs/security.md says
			{"create", "namespace", "tenant"},
		} {
			out, err := sys.Kubectl(args...)
			Expect(err).NotTo(HaveOccurred(), out)
		}
		for _, name := range []string{"monitoring", "tenant", "vmevents-system", "vmevents-controller"} {
			var ns corev1.Namespace
			Expect(admin.Get(ctx, types.NamespacedName{Name: name}, &ns)).To(Succeed())
			namespaces[name] = ns.Labels
		}
		// Each component's namespace has its policy: one selects only pods
		// of its own namespace.
		for _, ns := range []string{"vmevents-system", "vmevents-controller"} {
			var list networkingv1.NetworkPolicyList
			Expect(admin.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			Expect(list.Items).NotTo(BeEmpty(), "config/default installs no NetworkPolicy in %s", ns)
			policies = append(policies, list.Items...)
		}

		var controller appsv1.Deployment
		Expect(admin.Get(ctx, types.NamespacedName{Namespace: "vmevents-controller", Name: "vmevents-controller"}, &controller)).To(Succeed())
		var agent appsv1.DaemonSet
		Expect(admin.Get(ctx, types.NamespacedName{Namespace: "vmevents-system", Name: "vmevents-agent"}, &agent)).To(Succeed())
		for name, w := range map[string]struct {
			namespace string
			template  corev1.PodTemplateSpec
		}{"controller": {controller.Namespace, controller.Spec.Template}, "agent": {agent.Namespace, agent.Spec.Template}} {
			t := w.template
			Expect(t.Spec.HostNetwork).To(BeFalse(), "%s: a host-network pod is outside NetworkPolicy", name)
			components[name] = pod{namespace: w.namespace, labels: t.Labels, ports: t.Spec.Containers[0].Ports}
		}
	})

	// port is a component's container port by name.
	port := func(p pod, name string) int32 {
		GinkgoHelper()
		for _, cp := range p.ports {
			if cp.Name == name {
				return cp.ContainerPort
			}
		}
		Fail("no container port " + name)
		return 0
	}

	DescribeTable("is reached only from namespaces an admin labelled; health from anywhere",
		func(component, fromNS string, fromPod map[string]string, portName string, portNumber int32, want bool) {
			target := components[component]
			p := portNumber
			if portName != "" {
				p = port(target, portName)
			}
			Expect(ingressAllowed(policies, target.namespace, target.labels, target.ports, fromNS, namespaces[fromNS], fromPod, p)).To(Equal(want))
		},
		func(component, fromNS string, _ map[string]string, portName string, portNumber int32, want bool) string {
			verb := "refuses"
			if want {
				verb = "allows"
			}
			if portName == "" {
				portName = fmt.Sprint(portNumber)
			}
			return component + " " + verb + " " + portName + " from " + fromNS
		},
		Entry(nil, "controller", "monitoring", map[string]string{"app": "prometheus"}, "metrics", int32(0), true),
		Entry(nil, "agent", "monitoring", map[string]string{"app": "prometheus"}, "metrics", int32(0), true),
		Entry(nil, "controller", "tenant", map[string]string{"app": "prometheus"}, "metrics", int32(0), false),
		Entry(nil, "agent", "tenant", map[string]string{"app": "prometheus"}, "metrics", int32(0), false),
		// Not even vmevents' own namespaces: the agents have no business
		// there, nor the controller.
		Entry(nil, "controller", "vmevents-system", map[string]string{"app.kubernetes.io/name": "vmevents", "app.kubernetes.io/component": "agent"}, "metrics", int32(0), false),
		Entry(nil, "agent", "vmevents-system", map[string]string{"app.kubernetes.io/name": "vmevents", "app.kubernetes.io/component": "agent"}, "metrics", int32(0), false),
		Entry(nil, "agent", "vmevents-controller", map[string]string{"app.kubernetes.io/name": "vmevents", "app.kubernetes.io/component": "controller"}, "metrics", int32(0), false),
		Entry(nil, "controller", "vmevents-controller", map[string]string{"app.kubernetes.io/name": "vmevents", "app.kubernetes.io/component": "controller"}, "metrics", int32(0), false),
		Entry(nil, "controller", "tenant", map[string]string{}, "health", int32(0), true),
		Entry(nil, "agent", "tenant", map[string]string{}, "health", int32(0), true),
		// Nothing else: a profile port turned on by --pprof-bind-address.
		Entry(nil, "controller", "monitoring", map[string]string{}, "", int32(6060), false),
		Entry(nil, "agent", "monitoring", map[string]string{}, "", int32(6060), false),
	)
})

// ingressAllowed reports whether NetworkPolicy lets a pod (fromPod labels)
// in namespace fromNS reach port (TCP) of a pod in targetNS, as Kubernetes
// defines it: a pod no Ingress policy selects takes everything; otherwise a
// rule of a policy selecting it must match both the port and the peer.
// Peers by IP block are never matched: the question is about pods.
func ingressAllowed(policies []networkingv1.NetworkPolicy, targetNS string, target map[string]string, targetPorts []corev1.ContainerPort,
	fromNS string, fromNSLabels, fromPod map[string]string, port int32) bool {
	GinkgoHelper()
	selects := func(sel *metav1.LabelSelector, set map[string]string) bool {
		s, err := metav1.LabelSelectorAsSelector(sel)
		Expect(err).NotTo(HaveOccurred())
		return s.Matches(labels.Set(set))
	}
	portMatches := func(ports []networkingv1.NetworkPolicyPort) bool {
		if len(ports) == 0 {
			return true
		}
		for _, p := range ports {
			if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
				continue
			}
			if p.Port == nil {
				return true
			}
			if p.Port.Type == intstr.String {
				for _, cp := range targetPorts {
					if cp.Name == p.Port.StrVal && cp.ContainerPort == port {
						return true
					}
				}
				continue
			}
			end := p.Port.IntVal
			if p.EndPort != nil {
				end = *p.EndPort
			}
			if p.Port.IntVal <= port && port <= end {
				return true
			}
		}
		return false
	}
	peerMatches := func(policyNS string, from []networkingv1.NetworkPolicyPeer) bool {
		if len(from) == 0 {
			return true
		}
		for _, peer := range from {
			if peer.IPBlock != nil {
				continue
			}
			nsOK := fromNS == policyNS
			if peer.NamespaceSelector != nil {
				nsOK = selects(peer.NamespaceSelector, fromNSLabels)
			}
			podOK := peer.PodSelector == nil || selects(peer.PodSelector, fromPod)
			if nsOK && podOK {
				return true
			}
		}
		return false
	}
	isolated := false
	for _, np := range policies {
		ingress := false
		for _, t := range np.Spec.PolicyTypes {
			ingress = ingress || t == networkingv1.PolicyTypeIngress
		}
		if np.Namespace != targetNS || !ingress || !selects(&np.Spec.PodSelector, target) {
			continue
		}
		isolated = true
		for _, rule := range np.Spec.Ingress {
			if portMatches(rule.Ports) && peerMatches(np.Namespace, rule.From) {
				return true
			}
		}
	}
	return !isolated
}
