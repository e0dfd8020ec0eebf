package certs

import (
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tlsgate/tlsgate/internal/zapslog"
)

// newZapLogger returns a zap logger that writes through to l, so CertMagic's
// logs come out of the one slog handler the user chose.
func newZapLogger(l *slog.Logger) *zap.Logger {
	return zapslog.New(l, zapslog.Options{Level: demoteRoutine, NameKey: "certmagic"})
}

// routine are CertMagic info messages that say nothing a user acts on;
// they are logged at debug level.
var routine = map[string]bool{
	"acquiring lock": true,
	"lock acquired":  true,
	"releasing lock": true,
	"started background certificate maintenance": true,
	"stopped background certificate maintenance": true,
}

func demoteRoutine(e zapcore.Entry, l slog.Level) slog.Level {
	if l == slog.LevelInfo && routine[e.Message] {
		return slog.LevelDebug
	}
	return l
}
