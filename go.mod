module github.com/streamgate/streamgate

go 1.26.0

tool (
	connectrpc.com/connect/cmd/protoc-gen-connect-go
	google.golang.org/protobuf/cmd/protoc-gen-go
)

require (
	connectrpc.com/connect v1.21.1
	github.com/streamgate/streamgate/gen/go v0.0.0
	google.golang.org/genproto/googleapis/api v0.0.0-20261110000943-09e21b237f2c
	google.golang.org/protobuf v1.36.12
)

// The generated SDK is its own module so Go users can import the clients
// without the server's dependencies; in this repository it is used in place.
replace github.com/streamgate/streamgate/gen/go => ./gen/go
