package controllers

// The controller's permissions, kept least-privilege: it reads VirtualMachines,
// writes only their status (conditions, by server-side apply: patch), creates
// transition Events (never updates them: a second create of the same flip is
// meant to fail with AlreadyExists; through the core/v1 API, which alone
// takes the fields older readers sort by: events.go), lists them (once at
// start, to create only those missing: events_known.go) and reads the
// agents' heartbeat Leases in the agents' namespace only (a Role there, not a
// ClusterRole, bound to the controller's service account, which lives in a
// namespace of its own: vmevents-controller).
// Leader election has its own Role in the controller's namespace
// (config/rbac/leader_election_role.yaml).
//
// +kubebuilder:rbac:groups=vmevents.dev,resources=virtualmachines,verbs=get;list;watch
// +kubebuilder:rbac:groups=vmevents.dev,resources=virtualmachines/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;list
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch,namespace=vmevents-system
