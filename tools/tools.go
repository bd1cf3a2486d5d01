//go:build tools

// Package tools pins modules the build and tests depend on but no
// production code imports yet.
package tools

import (
	_ "github.com/coder/websocket"
	_ "github.com/go-stomp/stomp/v3"
	_ "github.com/rabbitmq/amqp091-go"
	_ "github.com/rs/zerolog"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/sync/errgroup"
	_ "gopkg.in/yaml.v3"
)

// goleak is needed to run amqp091-go's own integration suite against sluice.
import _ "go.uber.org/goleak"
