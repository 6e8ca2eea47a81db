package trustcmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshfed/meshfed/pkg/trust"
)

// AnchorOptions are the options of `mesh trust anchor`.
type AnchorOptions struct {
	Out        string
	Validity   time.Duration
	CommonName string
	Force      bool

	env
}

func newCmdAnchor(e env) *cobra.Command {
	o := &AnchorOptions{env: e}
	cmd := &cobra.Command{
		Use:   "anchor --out DIR",
		Short: "Make the federation's trust anchor: DIR/ca.crt and its key DIR/ca.key",
		Long: `anchor makes the federation's trust anchor: a self-signed ECDSA P-256 root CA. It
writes the certificate to DIR/ca.crt and its private key to DIR/ca.key (mode 0600).

Make it once for the whole federation and keep ca.key secret, offline if you can: whoever
holds it can give any workload of any cluster any identity. ca.crt is public: every
cluster's trust bundle holds it.

It refuses to replace an existing key: a new anchor is not trusted by any cluster until
it is rolled out with 'mesh trust rotate-anchor'. --force replaces it anyway.`,
		Example: `  # Make the anchor in ./anchor
  mesh trust anchor --out ./anchor

  # Make the next anchor, for a rotation, valid 5 years
  mesh trust anchor --out ./anchor-2031 --validity 43800h`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVar(&o.Out, "out", "", "folder to write ca.crt and ca.key to; made if missing")
	cmd.Flags().DurationVar(&o.Validity, "validity", trust.DefaultAnchorValidity, "how long the anchor is valid")
	cmd.Flags().StringVar(&o.CommonName, "common-name", "", `the anchor's common name (default "meshfed trust anchor <today's date>", which tells anchors apart during a rotation)`)
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace ca.crt and ca.key if DIR holds them already")
	return cmd
}

// Complete dates the default common name.
func (o *AnchorOptions) Complete() error {
	if o.CommonName == "" {
		o.CommonName = "meshfed trust anchor " + o.now().UTC().Format("2006-01-02")
	}
	return nil
}

// Validate checks the flags.
func (o *AnchorOptions) Validate() error {
	if o.Out == "" {
		return errors.New("--out is required: give the folder to write the anchor to, such as --out ./anchor")
	}
	return validateValidity("--validity", o.Validity, "87600h (ten years)")
}

// Run makes the anchor and writes it, the key first: a ca.crt without its key would
// look like an anchor that can sign.
func (o *AnchorOptions) Run() error {
	if err := os.MkdirAll(o.Out, 0o700); err != nil {
		return fmt.Errorf("--out %s: %w", o.Out, err)
	}
	if !o.Force {
		for _, name := range []string{anchorKeyFile, anchorCertFile} {
			if _, err := os.Stat(filepath.Join(o.Out, name)); err == nil {
				return fmt.Errorf("--out %s already holds %s: replacing an anchor makes every issuer it signed untrusted; pass --force to replace it anyway, or give another --out (to move to a new anchor, see 'mesh trust rotate-anchor --help')", o.Out, name)
			}
		}
	}
	anchor, err := trust.NewAnchor(o.CommonName, o.Validity, o.now())
	if err != nil {
		return err
	}
	key, err := anchor.KeyPEM()
	if err != nil {
		return err
	}
	if err := writeFile(o.Out, anchorKeyFile, key, 0o600, o.Force); err != nil {
		return fmt.Errorf("--out %s: writing %s: %w", o.Out, anchorKeyFile, alreadyExists(err))
	}
	if err := writeFile(o.Out, anchorCertFile, anchor.CertPEM(), 0o644, o.Force); err != nil {
		return fmt.Errorf("--out %s: writing %s: %w", o.Out, anchorCertFile, alreadyExists(err))
	}
	fmt.Fprintf(o.streams.ErrOut, `Wrote the trust anchor %s,
valid until %s:
  %s: the certificate. It is public: every cluster's trust bundle holds it.
  %s: its private key. Keep it secret, offline if you can: whoever holds it
    can give any workload of any cluster any identity.

Next, give each cluster its issuer, such as:
  mesh trust cluster --anchor %s --cluster west --cert-manager | kubectl --context west apply -f -
`, describeCert(anchor.Cert), date(anchor.Cert.NotAfter),
		filepath.Join(o.Out, anchorCertFile), filepath.Join(o.Out, anchorKeyFile), o.Out)
	return nil
}

// alreadyExists turns the error of a file that appeared since Run looked into advice.
func alreadyExists(err error) error {
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: another run wrote it meanwhile; pass --force to replace it", err)
	}
	return err
}
