//go:build e2e

package e2e

import (
	"os"
	"testing"

	"github.com/meshfed/meshfed/multicluster-e2e/provider/local"
)

func TestMain(m *testing.M) {
	// The provider starts nodes by running this test binary again as their init.
	local.MaybeRunNode()
	os.Exit(m.Run())
}
