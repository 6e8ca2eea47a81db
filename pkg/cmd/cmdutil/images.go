package cmdutil

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/pflag"
)

// DefaultRegistry and DefaultVersion make meshfed's default images, <registry>/<name>:<version>.
const (
	DefaultRegistry = "ghcr.io/meshfed"
	DefaultVersion  = "dev"
)

// ImageFlags are --registry and --version, which name the images an install command prints.
type ImageFlags struct {
	Registry string
	Version  string
}

// AddFlags adds the flags to fs; what names the images the command runs, for the help.
func (f *ImageFlags) AddFlags(fs *pflag.FlagSet, what string) {
	fs.StringVar(&f.Registry, "registry", DefaultRegistry, "registry and path "+what+" pulled from: <registry>/<name>:<version>")
	fs.StringVar(&f.Version, "version", DefaultVersion, "tag of "+what)
}

// Image is the image of one of meshfed's binaries.
func (f *ImageFlags) Image(binary string) string {
	return strings.TrimSuffix(f.Registry, "/") + "/" + binary + ":" + f.Version
}

var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Validate checks the flags make valid references for the images of binaries.
func (f *ImageFlags) Validate(binaries ...string) error {
	switch {
	case f.Registry == "":
		return fmt.Errorf("--registry is empty: give the registry and path of meshfed's images, such as %s", DefaultRegistry)
	case strings.Contains(f.Registry, "://"):
		return fmt.Errorf("--registry %q holds a scheme: give host and path only, such as %s", f.Registry, DefaultRegistry)
	case !tagRE.MatchString(f.Version):
		return fmt.Errorf("--version %q is not an image tag: use letters, digits, '_', '.' and '-', at most 128, such as v0.1.0", f.Version)
	}
	for _, b := range binaries {
		if _, err := name.NewTag(f.Image(b), name.StrictValidation); err != nil {
			return fmt.Errorf("--registry %q makes the image %q, which is not a valid image reference (%v): give host and path, such as %s", f.Registry, f.Image(b), err, DefaultRegistry)
		}
	}
	return nil
}
