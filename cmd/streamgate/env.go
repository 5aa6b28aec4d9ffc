package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/streamgate/streamgate/internal/operatortokens"
)

// Environment variables serve reads. Secrets a deployment injects from a
// Kubernetes Secret go here rather than into flags, which ps shows.
const (
	envDatabaseURL = "STREAMGATE_DATABASE_URL"
	envRedisURL    = "STREAMGATE_REDIS_URL"
	envBlobURL     = "STREAMGATE_BLOB_URL"
	envMeshTLSDir  = "STREAMGATE_MESH_TLS_DIR"
	envChains      = "STREAMGATE_CHAINS"
	envWCProjectID = "STREAMGATE_WALLETCONNECT_PROJECT_ID"
)

// knownEnv is every STREAMGATE_ variable the binary reads; `serve --check`
// refuses others, so a misspelt one in a manifest fails CI instead of
// being ignored in production.
var knownEnv = []string{
	envDatabaseURL, envRedisURL, envBlobURL, envMeshTLSDir, envChains, envKEK,
	envWCProjectID, operatortokens.EnvTokens, operatortokens.EnvToken,
}

// unknownEnv returns the STREAMGATE_ variables of environ the binary does
// not read.
func unknownEnv(environ []string) error {
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "STREAMGATE_") && !slices.Contains(knownEnv, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown environment variables %s (known: %s)", strings.Join(unknown, ", "), strings.Join(knownEnv, ", "))
	}
	return nil
}

// envOr is os.Getenv(name), or def when it is empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
