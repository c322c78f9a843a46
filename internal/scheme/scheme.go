// Package scheme builds the runtime.Scheme every vmevents component uses: the
// built-in Kubernetes types plus vmevents.dev/v1alpha1.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	vmv1 "github.com/vmevents/vmevents/api/v1alpha1"
)

// New returns a scheme with the built-in types and vmevents.dev/v1alpha1.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	// Both only fail on conflicting static registrations: a programming error.
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(vmv1.AddToScheme(s))
	return s
}
