package lxdsource

// KnownActions are the lifecycle actions LXD documents (its events page,
// "supported lifecycle events"). Any other well-formed action is still
// published; this list only bounds the metric labels.
var KnownActions = []string{
	"certificate-created", "certificate-deleted", "certificate-updated",
	"cluster-certificate-updated", "cluster-disabled", "cluster-enabled",
	"cluster-member-added", "cluster-member-removed", "cluster-member-renamed",
	"cluster-member-updated", "cluster-token-created", "config-updated",
	"image-alias-created", "image-alias-deleted", "image-alias-renamed", "image-alias-updated",
	"image-created", "image-deleted", "image-refreshed", "image-retrieved",
	"image-secret-created", "image-updated",
	"instance-backup-created", "instance-backup-deleted", "instance-backup-renamed",
	"instance-backup-retrieved", "instance-console", "instance-console-reset",
	"instance-console-retrieved", "instance-created", "instance-deleted", "instance-exec",
	"instance-file-deleted", "instance-file-pushed", "instance-file-retrieved",
	"instance-log-deleted", "instance-log-retrieved", "instance-metadata-retrieved",
	"instance-metadata-updated", "instance-metadata-template-created",
	"instance-metadata-template-deleted", "instance-metadata-template-retrieved",
	"instance-paused", "instance-renamed", "instance-restarted", "instance-restored",
	"instance-resumed", "instance-shutdown", "instance-started", "instance-stopped",
	"instance-updated", "instance-snapshot-created", "instance-snapshot-deleted",
	"instance-snapshot-renamed", "instance-snapshot-updated",
	"network-acl-created", "network-acl-deleted", "network-acl-renamed", "network-acl-updated",
	"network-created", "network-deleted", "network-renamed", "network-updated",
	"operation-cancelled",
	"profile-created", "profile-deleted", "profile-renamed", "profile-updated",
	"project-created", "project-deleted", "project-renamed", "project-updated",
	"storage-pool-created", "storage-pool-deleted", "storage-pool-updated",
	"storage-volume-backup-created", "storage-volume-backup-deleted",
	"storage-volume-backup-renamed", "storage-volume-backup-retrieved",
	"storage-volume-created", "storage-volume-deleted", "storage-volume-renamed",
	"storage-volume-restored", "storage-volume-updated",
	"storage-volume-snapshot-created", "storage-volume-snapshot-deleted",
	"storage-volume-snapshot-renamed", "storage-volume-snapshot-updated",
	"warning-acknowledged", "warning-deleted", "warning-reset",
}

var knownActions = func() map[string]bool {
	m := make(map[string]bool, len(KnownActions)+5)
	for _, a := range KnownActions {
		m[a] = true
	}
	for _, a := range []string{"operation-failed", "log-warning", "log-error", "log-critical"} {
		m[a] = true
	}
	return m
}()

// MetricName is the metric label of an action: itself when known, else
// "other", so that a peer cannot grow the label set.
func MetricName(action string) string {
	if knownActions[action] {
		return action
	}
	return "other"
}
