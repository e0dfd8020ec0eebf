package cli

import "os"

// reopenSignals: Windows has no SIGUSR1; restart to reopen the log.
var reopenSignals []os.Signal
