package identity

import (
	"context"
	"fmt"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshfed/meshfed/pkg/identity/identityclient"
)

// Audience is the audience a workload's projected token must carry for the identity service.
const Audience = identityclient.Audience

// Review is what the API server says of a token.
type Review struct {
	Authenticated bool
	// Username is the token's user: system:serviceaccount:<namespace>:<name> for a
	// ServiceAccount.
	Username string
	// Audiences are those of the token that the review asked for and the token carries.
	Audiences []string
	// Error is why the API server refused the token.
	Error string
}

// TokenReviewer asks the API server about a token.
type TokenReviewer interface {
	Review(ctx context.Context, token string) (Review, error)
}

// KubeTokenReviewer reviews tokens with the TokenReview API, for Audience.
type KubeTokenReviewer struct {
	Client kubernetes.Interface
}

var _ TokenReviewer = KubeTokenReviewer{}

func (k KubeTokenReviewer) Review(ctx context.Context, token string) (Review, error) {
	tr, err := k.Client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{Audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return Review{}, fmt.Errorf("token review: %w", err)
	}
	return Review{
		Authenticated: tr.Status.Authenticated,
		Username:      tr.Status.User.Username,
		Audiences:     tr.Status.Audiences,
		Error:         tr.Status.Error,
	}, nil
}

const serviceAccountPrefix = "system:serviceaccount:"

// serviceAccountOf returns the namespace and name of a ServiceAccount's username.
func serviceAccountOf(username string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(username, serviceAccountPrefix)
	if !found {
		return "", "", false
	}
	namespace, name, found = strings.Cut(rest, ":")
	return namespace, name, found && namespace != "" && name != "" && !strings.Contains(name, ":")
}
