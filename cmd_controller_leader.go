package main

import (
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// leaderElectionID names the controller's leader election Lease.
const leaderElectionID = "vmevents-controller"

// leaderRenewDeadline is controller-runtime's default: how long a leader
// keeps trying to renew before it gives up the lead (and the process
// exits). Each Lease request may take half of it.
const leaderRenewDeadline = 10 * time.Second

// leaderLock is the controller's leader election Lease, held under the
// identity leaderIdentity gives.
func leaderLock(cfg *rest.Config, namespace string) (resourcelock.Interface, error) {
	lcfg := rest.CopyConfig(cfg)
	lcfg.Timeout = leaderRenewDeadline / 2
	c, err := coordinationv1.NewForConfig(rest.AddUserAgent(lcfg, "leader-election"))
	if err != nil {
		return nil, fmt.Errorf("creating the leader election client: %w", err)
	}
	id, err := leaderIdentity()
	if err != nil {
		return nil, err
	}
	return &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: namespace, Name: leaderElectionID},
		Client:     c,
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}, nil
}

// leaderIdentity is the pod's name ($POD_NAME) where there is one: a
// container the kubelet restarts in the same pod finds the Lease held by
// its own name and leads again at once. With a new identity per start (the
// usual host name and random suffix) it waited for the Lease to expire,
// which after an API server outage that cost the leader its lead was
// another 15 s and more without conditions (docs/benchmarks.md, scenario
// 4). Two live processes never share a pod's name. Outside a pod, the host
// name and a random suffix, as controller-runtime's own.
func leaderIdentity() (string, error) {
	if pod := os.Getenv("POD_NAME"); pod != "" {
		return pod, nil
	}
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("naming this replica for the leader election: %w", err)
	}
	return host + "_" + string(uuid.NewUUID()), nil
}
