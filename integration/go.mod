module github.com/streamgate/streamgate/integration

go 1.26.0

require (
	github.com/streamgate/streamgate v0.0.0
	github.com/streamgate/streamgate/gen/go v0.0.0
)

// Whole-system tests run against the code in this repository.
replace (
	github.com/streamgate/streamgate => ../
	github.com/streamgate/streamgate/gen/go => ../gen/go
)
