package qmpagent

// The node agent's permissions, kept least-privilege: it reads the
// VirtualMachines of its node, writes only their status (facts), publishes
// Events and keeps its node's heartbeat Lease. It can neither change a spec
// nor delete anything. Discovery's right to create VirtualMachines is a
// separate ClusterRole (config/rbac/agent_discovery_role.yaml), bound only
// when discovery is turned on.
//
// +kubebuilder:rbac:groups=vmevents.dev,resources=virtualmachines,verbs=get;list;watch
// +kubebuilder:rbac:groups=vmevents.dev,resources=virtualmachines/status,verbs=get;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch;get
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update,namespace=vmevents-system
