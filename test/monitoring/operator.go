package monitoring

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
)

// OperatorModule is the Prometheus Operator release whose CRDs the
// component is validated against and the cluster suite installs; the Go
// module proxy serves its source, CRDs included
// (example/prometheus-operator-crd).
const OperatorModule = "github.com/prometheus-operator/prometheus-operator@v0.85.0"

// OperatorCRDs is the folder of the operator's CRDs, from the module cache
// (downloaded through the Go module proxy the first time).
func OperatorCRDs() (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", OperatorModule).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w", OperatorModule, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return "", err
	}
	return filepath.Join(mod.Dir, "example", "prometheus-operator-crd"), nil
}
