package testservers

import (
	"context"
	"errors"
	"fmt"

	"github.com/testcontainers/testcontainers-go"
	tcmysql "github.com/testcontainers/testcontainers-go/modules/mysql"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
)

// Images the containers run when no server is named in the environment.
const (
	postgresImage = "postgres:16-alpine"
	mysqlImage    = "mysql:8.4"
)

// dockerAnswers reports whether a Docker engine answers, without the panics
// some environments provoke in the provider.
func dockerAnswers(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("docker provider: %v", r)
		}
	}()
	p, err := testcontainers.ProviderDefault.GetProvider()
	if err != nil {
		return err
	}
	return p.Health(ctx) // Health closes p
}

// startPostgres starts a PostgreSQL container and returns a DSN for its
// "test" database. testcontainers' reaper removes it when the test binary
// exits: it serves every test of the binary.
func startPostgres(ctx context.Context) (string, error) {
	if err := dockerAnswers(ctx); err != nil {
		return "", fmt.Errorf("no Docker engine: %w", err)
	}
	c, err := tcpostgres.Run(ctx, postgresImage,
		tcpostgres.WithDatabase("test"),
		tcpostgres.WithUsername("postgres"),
		tcpostgres.WithPassword("postgres"),
		tcpostgres.BasicWaitStrategies(),
	)
	if err != nil {
		return "", errors.Join(fmt.Errorf("starting %s: %w", postgresImage, err), terminate(c))
	}
	dsn, err := c.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		return "", errors.Join(err, terminate(c))
	}
	return dsn, nil
}

// startMySQL starts a MySQL container and returns a go-sql-driver DSN for
// its "test" database as root (Postgres and MySQL create a schema or a
// database per test).
func startMySQL(ctx context.Context) (string, error) {
	if err := dockerAnswers(ctx); err != nil {
		return "", fmt.Errorf("no Docker engine: %w", err)
	}
	c, err := tcmysql.Run(ctx, mysqlImage,
		tcmysql.WithDatabase("test"),
		tcmysql.WithUsername("root"),
		tcmysql.WithPassword("authkit"),
	)
	if err != nil {
		return "", errors.Join(fmt.Errorf("starting %s: %w", mysqlImage, err), terminate(c))
	}
	dsn, err := c.ConnectionString(ctx, "parseTime=true")
	if err != nil {
		return "", errors.Join(err, terminate(c))
	}
	return dsn, nil
}

// terminate removes a container that did not come up; c may be nil (also
// a nil pointer in an interface, which TerminateContainer checks for).
func terminate(c testcontainers.Container) error { return testcontainers.TerminateContainer(c) }
