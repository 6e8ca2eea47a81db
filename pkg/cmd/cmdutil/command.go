package cmdutil

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// UnknownCommand refuses arguments to a command that only groups others, suggesting the
// command meant: cobra would print the help and succeed. Use it as such a command's Args.
func UnknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return fmt.Errorf("%s", msg)
}
