package mirror

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	mcv1alpha1 "github.com/meshfed/meshfed/pkg/apis/multicluster/v1alpha1"
)

// managedBy is the EndpointSlice manager the endpointslice controller leaves alone.
const managedBy = "mirror.meshfed.io"

// linkLabel is the owner label value of a Link: a label value holds no '/'.
func linkLabel(link types.NamespacedName) string { return link.Namespace + "." + link.Name }

// mirrorName is the name of the mirror of remote Service name from cluster.
func mirrorName(name, cluster string) (string, error) {
	n := name + "-" + cluster
	if errs := validation.IsDNS1035Label(n); len(errs) > 0 {
		return "", fmt.Errorf("the mirror's name %q is not a valid Service name (%s): rename the Service in %s, or link the cluster under a shorter name", n, errs[0], cluster)
	}
	return n, nil
}

// podMirrorName names the mirror of one pod of a headless Service: unique per Service and
// pod, and short enough, whatever their lengths.
func podMirrorName(hostname, service, cluster string) string {
	n := hostname + "-" + service + "-" + cluster
	if len(n) <= validation.DNS1035LabelMaxLength {
		return n
	}
	sum := sha256.Sum256([]byte(n))
	short := hex.EncodeToString(sum[:])[:10]
	return n[:validation.DNS1035LabelMaxLength-len(short)-1] + "-" + short
}

// mirrorKey is what the mirror controller reconciles: one remote Service of one Link.
type mirrorKey struct {
	Link      types.NamespacedName
	Namespace string
	Name      string
}

func (k mirrorKey) String() string {
	return fmt.Sprintf("%s/%s: %s/%s", k.Link.Namespace, k.Link.Name, k.Namespace, k.Name)
}

// ownedLabels are the labels every object the controller makes for key carries.
func ownedLabels(key mirrorKey, cluster string) map[string]string {
	return map[string]string{
		mcv1alpha1.LabelMirroredService: "true",
		mcv1alpha1.LabelClusterName:     cluster,
		mcv1alpha1.LabelLink:            linkLabel(key.Link),
		mcv1alpha1.LabelRemoteName:      key.Name,
	}
}
