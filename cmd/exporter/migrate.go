package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/config"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
)

// runMigrate is `exporter migrate up|down N|version|force V`.
func runMigrate(ctx context.Context, cfg config.Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"migrate needs up, down N, version or force V"}
	}

	op, n, err := parseMigrateArgs(args)
	if err != nil {
		return err
	}

	database, err := db.Open(ctx, dbConfig(cfg))
	if err != nil {
		return databaseError{err}
	}
	defer database.Close()

	switch op {
	case "up":
		err = database.Migrate(ctx)
	case "down":
		err = database.MigrateDown(ctx, n)
	case "force":
		err = database.MigrateForce(ctx, n)
	}
	if err != nil {
		return databaseError{err}
	}

	v, dirty, err := database.MigrateVersion(ctx)
	if err != nil {
		return databaseError{err}
	}

	logger.Info("schema version", "version", v, "dirty", dirty)
	fmt.Fprintf(stdout, "schema %s at version %d (dirty: %t)\n", cfg.Schema, v, dirty)

	return nil
}

func parseMigrateArgs(args []string) (op string, n int, err error) {
	op = args[0]

	switch {
	case (op == "up" || op == "version") && len(args) == 1:
		return op, 0, nil
	case (op == "down" || op == "force") && len(args) == 2:
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 0 || (op == "down" && n == 0) {
			return "", 0, usageError{fmt.Sprintf("migrate %s needs a number, got %q", op, args[1])}
		}

		return op, n, nil
	default:
		return "", 0, usageError{"migrate needs up, down N, version or force V"}
	}
}
