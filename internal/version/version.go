// Package version holds the build's version, set at link time.
package version

// Version is the vmevents version, set with -ldflags "-X .../internal/version.Version=...".
var Version = "dev"
